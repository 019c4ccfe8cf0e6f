"""The HTML view: escaping, reading order, streaming, the footer from the manifest, and the CLI.

The page is parsed back with the standard library's HTML parser (the browser test in
``test_htmlview_browser.py`` checks the same page in a real Chromium).
"""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from karabakh_tagger import artifacts
from karabakh_tagger.htmlview import CSP, Page, esc, gap_html, render, trust_sentence
from karabakh_tagger.labels import TASKS
from karabakh_tagger.segment import segment
from karabakh_tagger.tag import TaggedUnit, load_tagger

from conftest import ARTICLES_DIR, DATA, run_cli, run_many

CLASSES = {task: list(names) for task, names in TASKS.items()}
WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
HOSTILE = [  # each is article text that must show as text and run nothing
    "<script>window.__pwned = 1</script>",
    "</style><script>window.__pwned = 2</script>",
    '"><img src=x onerror="window.__pwned = 3">',
    "<a href=\"javascript:window.__pwned = 4\">click</a>",
    "<!-- --><svg onload=window.__pwned=5>",
    "&lt;already escaped&gt; & ampersands ' quotes",
]
CONTROLS = "bell\x07 escape\x1b[31m nul\x00 del\x7f c1\x85 form\x0c end."


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside ``span.x`` elements, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.unit_texts: list[str] = []
        self._depth: int | None = None  # span depth inside the current .x, None outside
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if self._depth is not None:
            self._depth += tag == "span"
        elif tag == "span" and dict(attrs).get("class") == "x":
            self._depth, self._text = 0, []

    def handle_endtag(self, tag: str) -> None:
        if self._depth is not None and tag == "span":
            if self._depth == 0:
                self.unit_texts.append("".join(self._text))
                self._depth = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth is not None:
            self._text.append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def units_of(name: str, text: str, min_score_hit: bool = False) -> list[TaggedUnit]:
    """Real units of ``text`` (the segmenter's), with labels cycling through the scheme."""
    topics, stances = CLASSES["topic"], CLASSES["stance"]
    return [TaggedUnit(name, u.index, u.start, u.end, u.text, topics[u.index % len(topics)],
                       0.3 if min_score_hit and u.index % 2 else 0.9, stances[u.index % 3], 0.8)
            for u in segment(text)]


def test_hostile_text_names_and_labels_are_escaped_and_show_as_text() -> None:
    text = "\n\n".join(f"Line {k}: {h} ends here." for k, h in enumerate(HOSTILE))
    units = units_of("x", text)
    units = [dataclasses.replace(u, topic=HOSTILE[0]) if u.index == 0 else u for u in units]
    page = render([(HOSTILE[2], text, units)], None, "baseline", CLASSES, created=WHEN)
    found = parse(page)
    names = {tag for tag, _ in found.tags}
    assert not names & {"script", "img", "svg", "iframe", "object", "embed"}
    assert [tag for tag, _ in found.tags].count("a") == 0  # one article: no comparison links
    assert all(not k.startswith("on") for _, attrs in found.tags for k in attrs)
    assert not [a for _, attrs in found.tags for a in attrs.values() if a and "javascript:" in a]
    assert found.unit_texts == [u.text for u in units]  # every unit's text, exactly, in order
    assert page.count("<style>") == 1 and page.count("</style>") == 1
    assert f'content="{CSP}"' in page and "script-src" not in CSP and "default-src 'none'" in CSP


def test_control_characters_are_never_written_raw() -> None:
    units = units_of("c", CONTROLS)
    page = render([("name\x1b]0;title\x07", CONTROLS, units)], None, "baseline", CLASSES, created=WHEN)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", page)
    assert "U+0007" in page and "U+001B" in page and "U+0085" in page and "U+0000" in page
    assert "\r" not in esc("a\r\nb\rc")


def test_gaps_keep_paragraphs_line_breaks_and_stray_text() -> None:
    assert gap_html(" ", False, False) == " "
    assert gap_html("", False, False) == ""
    assert gap_html("\r\n", False, False) == "<br>\n"
    assert gap_html("\n  \n\n", False, False) == "</p>\n<p>"
    assert gap_html("\n\n• ", False, False) == '</p>\n<p><span class="g">•</span> '
    assert gap_html("\n\n", True, False) == ""  # nothing before the first unit
    assert gap_html("\n\n<b>\n", False, True) == '</p>\n<p><span class="g">&lt;b&gt;</span>'


def test_reading_order_covers_the_whole_article_text() -> None:
    text = (DATA / "composed_article.txt").read_text(encoding="utf-8")
    units = units_of("composed", text)
    page = render([("composed", text, units)], None, "baseline", CLASSES, created=WHEN)
    body = page[page.index('<div class="text">'):page.index("</section>")]
    assert body.count("</p>\n<p>") == text.count("\n\n") == len(units) - 1
    assert parse(page).unit_texts == [u.text for u in units]


def test_stance_class_symbol_topic_label_scores_and_uncertain_marks() -> None:
    text = (DATA / "composed_article.txt").read_text(encoding="utf-8")
    units = units_of("composed", text, min_score_hit=True)
    page = render([("composed", text, units)], None, "baseline", CLASSES, min_score=0.5, created=WHEN)
    spans = [attrs for tag, attrs in parse(page).tags if tag == "span" and "data-topic" in attrs]
    assert len(spans) == len(units)
    for attrs, unit in zip(spans, units, strict=True):
        classes = (attrs["class"] or "").split()
        assert "u" in classes and f"s-{unit.stance}" in classes and attrs["data-topic"] == unit.topic
        assert ("unc" in classes) == (unit.topic_score < 0.5)
        assert attrs["title"].startswith(f"{unit.stance} {unit.stance_score:.2f} · topic {unit.topic}")
    assert f"{sum(u.topic_score < 0.5 for u in units)} uncertain (topic score below 0.50)" in page


def test_streamed_pieces_give_the_same_page_as_whole_articles() -> None:
    corpus = {p.stem: p.read_text(encoding="utf-8") for p in sorted(ARTICLES_DIR.glob("*.txt"))}
    whole = [(name, text, units_of(name, text)) for name, text in corpus.items()]
    expected = render(whole, None, "baseline", CLASSES, created=WHEN)
    with Page(None, "baseline", CLASSES, created=WHEN) as page:
        for position, (name, _) in enumerate(page.remember((n, t) for n, t, _ in whole)):
            units = whole[position][2]
            for k in range(0, len(units), 7):  # pieces of 7 units, as stream would cut them
                page.add(position, name, units[k:k + 7], last=k + 7 >= len(units))
        out = io.BytesIO()
        page.write(out)
    assert out.getvalue().decode("utf-8") == expected
    links = re.findall(r'<a href="#(a\d+)">', expected)
    assert links == [f"a{k}" for k in range(len(corpus))]
    assert all(f'<section class="article" id="{anchor}"' in expected for anchor in links)


def test_an_article_still_open_cannot_be_written() -> None:
    with Page(None, "baseline", CLASSES) as page:
        page.add(0, "a", units_of("a", "One sentence here. Another one."), last=False)
        with pytest.raises(ValueError, match="still open"):
            page.write(io.BytesIO())
        with pytest.raises(ValueError, match="before the last piece"):
            page.add(1, "b", [], last=True)


def test_footer_says_when_the_model_was_never_evaluated(models: Path) -> None:
    manifest = artifacts.read_manifest(models)
    assert manifest.evaluated is None
    sentence = trust_sentence(manifest, "baseline")
    assert "not been evaluated yet" in sentence and "make eval" in sentence
    page = render([], manifest, "baseline", CLASSES, created=WHEN)
    assert manifest.version_name("baseline") in page and "No article with any text" in page


def test_footer_gives_the_evaluations_headline_numbers_from_the_manifest(models: Path) -> None:
    manifest = artifacts.read_manifest(models)
    headline = {"topic": artifacts.Headline(0.4761, 0.5963, 0.8, 0.0882, None),
                "stance": artifacts.Headline(0.6229, 0.7339, 0.81, 0.2741, 0.528)}
    info = dataclasses.replace(manifest.models["baseline"], evaluation=headline)
    evaluated = dataclasses.replace(manifest, models={"baseline": info},
                                    evaluated="2026-12-01T10:00:00+00:00")
    sentence = trust_sentence(evaluated, "baseline")
    assert "27% of stance tags and 40% of topic tags were wrong" in sentence
    assert "stance macro-F1 0.62, accuracy 0.73, best dummy macro-F1 0.27" in sentence
    assert "topic macro-F1 0.48" in sentence and f"over {len(manifest.data.articles)} labelled" in sentence
    assert "evaluated 2026-12-01" in sentence


# --- through the command line ------------------------------------------------------------------

def test_cli_writes_the_page_atomically_and_reports_bad_inputs(models: Path, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.txt"
    hostile.write_text("\n\n".join(HOSTILE), encoding="utf-8")
    out = tmp_path / "out" / "report.html"
    common = ["--models", models, "--format", "html"]
    runs = run_many({
        "page": (["tag", DATA / "composed_article.txt", hostile, tmp_path / "missing.txt", *common,
                  "--out", out, "--min-score", "0.5"], None),
        "stdout": (["tag", "-", *common], (DATA / "composed_article.txt").read_bytes()),
        "jsonl": (["tag", DATA / "composed_article.txt", hostile, "--models", models], None),
        "jobs2": (["tag", ARTICLES_DIR, *common, "--jobs", "2"], None),
        "jobs1": (["tag", ARTICLES_DIR, *common], None),
        "no_model": (["tag", hostile, "--format", "html", "--out", tmp_path / "never.html",
                      "--models", tmp_path / "none"], None),
        "out_without_html": (["tag", hostile, "--out", tmp_path / "x.html", "--models", models], None),
        "summary": (["tag", hostile, "--summary", *common], None),
    })
    page = runs["page"]
    assert page.code == 1, page.describe()
    assert page.err_lines == [f"error: {tmp_path / 'missing.txt'}: no such file",
                              f"wrote {out}: 2 article(s), {len(runs['jsonl'].rows())} units"]
    html = out.read_text(encoding="utf-8")
    assert "missing.txt: no such file" in html.split("<main>")[0]  # listed at the top of the page
    assert parse(html).unit_texts == [r["text"] for r in runs["jsonl"].rows()]
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left
    version = artifacts.read_manifest(models).version_name("baseline")
    assert version in html and "not been evaluated yet" in html
    assert runs["stdout"].code == 0 and runs["stdout"].out.startswith("<!doctype html>")
    assert runs["stdout"].out.rstrip().endswith("</html>")
    assert '<h2 id="a0-h">-</h2>' in runs["stdout"].out  # stdin is named -, like any input as given
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")  # the time the page was written
    assert stamp.sub("", runs["jobs2"].out) == stamp.sub("", runs["jobs1"].out)
    assert runs["no_model"].code == 1 and not (tmp_path / "never.html").exists()
    assert runs["out_without_html"].code == 2 and "--out is for --format html" in runs["out_without_html"].err
    assert runs["summary"].code == 2 and "drop --summary" in runs["summary"].err


def test_cli_probs_put_every_class_in_the_title(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    run = run_cli("tag", DATA / "composed_article.txt", "--models", models, "--format", "html",
                  "--probs", "--out", out)
    assert run.code == 0, run.describe()
    tagger = load_tagger(models)
    tags = parse(out.read_text(encoding="utf-8")).tags
    titles = [a["title"] for t, a in tags if t == "span" and "data-topic" in a]
    assert titles and all(title.startswith("stance: ") and all(c in title for c in tagger.classes["topic"])
                          for title in titles)
