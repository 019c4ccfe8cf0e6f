"""The HTML page of a multi-article report, opened in headless Chromium and checked through the DOM.

Needs Debian's ``chromium`` (``.ci/run`` installs it when missing); skipped, with the reason, only
where it is not installed. The page is written by the real CLI (``tag --format html --out``) from
the corpus articles, the composed test article and an article of injected markup, and compared
with the same run's JSON lines.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from chromium import Browser, executable

from karabakh_tagger.htmlview import CSP

from conftest import ARTICLES_DIR, DATA, run_many

pytestmark = pytest.mark.skipif(executable() is None, reason="headless Chromium is not installed "
                                "(apt-get install -y chromium; .ci/run installs it)")

INJECTED = (  # every way an article could try to run script; each would set window.__pwned
    "Breaking: <script>window.__pwned = 'script'</script> ceasefire news.\n\n"
    "Officials said </style><script>window.__pwned = 'style'</script> nothing.\n\n"
    '"><img src=x onerror="window.__pwned = \'img\'"> Russia welcomed the deal.\n\n'
    "<svg onload=\"window.__pwned = 'svg'\"></svg> Armenia protested the terms.\n\n"
    "<a id=js href=\"javascript:window.__pwned = 'link'\">read more</a>\n"
)
DOM = """JSON.stringify({
  sections: [...document.querySelectorAll('main section.article')].map(s => ({
    id: s.id, name: s.querySelector('h2').textContent,
    units: [...s.querySelectorAll('.text .u')].map(u => ({
      text: u.querySelector('.x').textContent,
      stances: [...u.classList].filter(c => c.startsWith('s-')).map(c => c.slice(2)),
      label: u.querySelector('.t').textContent, topic: u.dataset.topic,
      uncertain: u.classList.contains('unc'), title: u.title}))})),
  links: [...document.querySelectorAll('table.compare a')].map(a => {
    const target = document.getElementById(a.getAttribute('href').slice(1));
    return {text: a.textContent, href: a.getAttribute('href'),
            target: target ? target.querySelector('h2').textContent : null};
  }),
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  scripts: document.scripts.length,
  foreign: document.querySelectorAll('main img, main svg, main iframe, main a, main object').length,
  footer: document.querySelector('footer').textContent,
})"""
TINTS = {"supportive": (220, 235, 247), "critical": (251, 226, 212), "neutral": (208, 208, 208)}
"""A colour each stance paints in the page (highlight background, or the neutral bar segment)."""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, models: Path) -> dict[str, Any]:
    """The page and the JSON lines of one multi-article run, and the DOM as Chromium sees it."""
    base = tmp_path_factory.mktemp("html_report")
    injected = base / "injected.txt"
    injected.write_text(INJECTED, encoding="utf-8")
    page = base / "report.html"
    inputs = [ARTICLES_DIR, DATA / "composed_article.txt", injected]
    runs = run_many({
        "html": (["tag", *inputs, "--models", models, "--format", "html", "--min-score", "0.5",
                  "--out", page], None),
        "jsonl": (["tag", *inputs, "--models", models, "--min-score", "0.5"], None)})
    for run in runs.values():
        assert run.code == 0, run.describe()
    stripped = base / "no_csp.html"  # the same page without its policy: escaping alone must hold
    html = page.read_text(encoding="utf-8")
    assert html.count(CSP) == 1
    stripped.write_text(html.replace(CSP, "default-src *; script-src 'unsafe-inline'"), encoding="utf-8")
    control = base / "control.html"  # the injected text pasted raw: proves the payloads are live
    control.write_text(f"<!doctype html><html><body>{INJECTED}</body></html>", encoding="utf-8")
    with Browser() as browser:
        browser.open(page)
        dom = json.loads(browser.evaluate(DOM))
        second = dom["links"][1]["href"]
        browser.evaluate(f"document.querySelector('table.compare a[href=\"{second}\"]').click()")
        jumped = browser.evaluate(f"[location.hash, document.querySelector('{second}')"
                                  ".getBoundingClientRect().top]")
        browser.open(page)
        png = browser.screenshot()
        browser.open(stripped)
        no_csp = json.loads(browser.evaluate(DOM))
        browser.open(control)
        control_flag = browser.evaluate("String(window.__pwned)")
    return {"dom": dom, "rows": runs["jsonl"].rows(), "jumped": jumped, "second": second, "png": png,
            "no_csp": no_csp, "control": control_flag}


def test_every_unit_is_present_in_order_with_its_stance_class_and_topic_label(report: dict[str, Any]) -> None:
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in report["rows"]:
        by_article[row["article"]].append(row)
    sections = report["dom"]["sections"]
    assert [s["name"] for s in sections] == list(by_article)
    assert len(sections) == len(list(ARTICLES_DIR.glob("*.txt"))) + 2
    for section in sections:
        rows = by_article[section["name"]]
        assert [u["text"] for u in section["units"]] == [r["text"] for r in rows]
        assert [u["stances"] for u in section["units"]] == [[r["stance"]] for r in rows]
        assert [u["topic"] for u in section["units"]] == [r["topic"] for r in rows]
        assert [u["label"] for u in section["units"]] == [r["topic"] + "?" * r["uncertain"] for r in rows]
        assert [u["uncertain"] for u in section["units"]] == [r["uncertain"] for r in rows]
        assert all(u["title"].startswith(f"{r['stance']} {r['stance_score']:.2f} · topic {r['topic']} ")
                   for u, r in zip(section["units"], rows, strict=True))


def test_comparison_table_links_resolve_to_each_article(report: dict[str, Any]) -> None:
    links = report["dom"]["links"]
    assert [link["text"] for link in links] == [s["name"] for s in report["dom"]["sections"]]
    assert all(link["target"] == link["text"] for link in links)
    hash_, top = report["jumped"]
    assert hash_ == report["second"] and abs(top) < 2  # the click scrolled its section to the top


def test_the_injected_markup_ran_no_script_with_or_without_the_policy(report: dict[str, Any]) -> None:
    assert report["control"] != "undefined"  # pasted raw, the payloads do run in this browser
    for dom in (report["dom"], report["no_csp"]):
        assert dom["pwned"] is None and dom["scripts"] == 0 and dom["foreign"] == 0
    injected = next(s for s in report["dom"]["sections"] if Path(s["name"]).stem == "injected")
    assert "<script>window.__pwned = 'script'</script>" in injected["units"][0]["text"]
    assert "not been evaluated yet" in report["dom"]["footer"]


def test_the_screenshot_is_not_blank_and_shows_the_stances(report: dict[str, Any]) -> None:
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(report["png"])).convert("RGB")
    assert image.width == 1000 and image.height > 2000
    pixels = np.asarray(image).reshape(-1, 3)
    inked = float((pixels.astype(int).sum(axis=1) < 600).mean())  # darker than light grey
    assert inked > 0.02 and len(np.unique(pixels, axis=0)) > 50
    colours = {tuple(int(v) for v in c) for c in np.unique(pixels, axis=0)}
    for stance in {r["stance"] for r in report["rows"]}:
        assert TINTS[stance] in colours, stance
