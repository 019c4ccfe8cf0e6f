"""Size and speed of the HTML page (``tag --format html``) for about 5,000 units.

Input: the corpus articles (``data/articles/*.txt``) repeated until the segmenter finds at least
``--units`` units, in two shapes: ONE long article (one section, no comparison table) and MANY
articles (each copy of each corpus article its own section and comparison row). The units are
tagged once with the real model; then, per shape, timed as medians of ``--repeats`` rounds:

- the renderer alone: ``htmlview.Page`` fed a piece at a time and written to a file (what the CLI
  does after tagging), with and without ``--probs`` titles;
- the CLI end to end, ``tag FILE --format html --out PAGE`` beside ``tag FILE > /dev/null``
  (jsonl), wall time including start-up, model load and tagging;
- where Chromium is installed, the browser's load of the page (a new tab, navigation, up to the
  load event) and the number of unit elements it finds.

Run from the repository root (``make bench`` runs it as below)::

    .venv/bin/python benchmarks/html_page.py --models models --out reports/html_page.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from karabakh_tagger.files import atomic_write_text
from karabakh_tagger.htmlview import Page
from karabakh_tagger.segment import segment
from karabakh_tagger.tag import load_tagger

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Chromium driver shared with the browser test


def corpus() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "articles").glob("*.txt"))}


def shapes(target: int) -> dict[str, list[tuple[str, str]]]:
    """``(name, text)`` inputs of at least ``target`` units: one long article, or many short ones."""
    articles = corpus()
    per_copy = sum(len(segment(t)) for t in articles.values())
    copies = -(-target // per_copy)
    many = [(f"{k:03d}-{name}", text) for k in range(copies) for name, text in articles.items()]
    one = "\n\n".join(text for _, text in many)
    return {"one article": [("long", one)], "many articles": many}


def render_once(inputs: list[tuple[str, str]], tagged: list[list[Any]], tagger: Any, out: Path) -> float:
    """Seconds to build and write the page from tagged units, in pieces of 700 units (a batch)."""
    start = time.perf_counter()
    with Page(tagger.manifest, tagger.model, tagger.classes, min_score=0.5) as page:
        for position, (name, _) in enumerate(page.remember(inputs)):
            units = tagged[position]
            for k in range(0, max(len(units), 1), 700):
                page.add(position, name, units[k:k + 700], last=k + 700 >= len(units))
        with out.open("wb") as handle:
            page.write(handle)
    return time.perf_counter() - start


def cli_seconds(args: list[str], models: Path, model: str) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "karabakh_tagger.cli", "tag", *args, "--models", str(models),
               "--model", model]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"tag {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()}")
    return time.perf_counter() - start


def browser_load(page: Path) -> dict[str, Any] | None:
    """Seconds from navigation to the load event in headless Chromium, and the units it found."""
    from chromium import Browser, executable

    if executable() is None:
        return None
    with Browser(timeout=120) as browser:
        start = time.perf_counter()
        browser.open(page)
        seconds = time.perf_counter() - start
        found = browser.evaluate("document.querySelectorAll('.text .u').length")
    return {"seconds": seconds, "units_found": found}


def measure(models: Path = ROOT / "models", units: int = 5000, repeats: int = 5,
            model: str = "baseline") -> dict[str, Any]:
    """Every number of the benchmark, as plain data (``render`` writes the table)."""
    tagger = load_tagger(models, model)
    out: dict[str, Any] = {"target_units": units, "repeats": repeats, "model": tagger.model, "shapes": {}}
    with tempfile.TemporaryDirectory(prefix="kt-html-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for shape, inputs in shapes(units).items():
            tagged = {probs: tagger.tag_many([t for _, t in inputs], [n for n, _ in inputs], probs=probs)
                      for probs in (False, True)}
            folder = tmp / shape.replace(" ", "_")
            folder.mkdir()
            for name, text in inputs:
                (folder / f"{name}.txt").write_text(text, encoding="utf-8")
            page, probs_page = tmp / f"{folder.name}.html", tmp / f"{folder.name}-probs.html"
            times = [render_once(inputs, tagged[False], tagger, page) for _ in range(repeats)]
            probs_times = [render_once(inputs, tagged[True], tagger, probs_page) for _ in range(repeats)]
            cli_html = [cli_seconds([str(folder), "--format", "html", "--min-score", "0.5", "--out",
                                     str(tmp / "cli.html")], models, model) for _ in range(min(repeats, 3))]
            cli_jsonl = [cli_seconds([str(folder)], models, model) for _ in range(min(repeats, 3))]
            out["shapes"][shape] = {
                "articles": len(inputs), "units": sum(len(u) for u in tagged[False]),
                "page_bytes": page.stat().st_size, "probs_page_bytes": probs_page.stat().st_size,
                "render_seconds": statistics.median(times),
                "probs_render_seconds": statistics.median(probs_times),
                "cli_html_seconds": statistics.median(cli_html),
                "cli_jsonl_seconds": statistics.median(cli_jsonl),
                "browser": browser_load(page),
            }
    return out


def render(m: dict[str, Any]) -> str:
    """The Markdown report."""
    lines = [f"# HTML page for about {m['target_units']:,} units", "",
             f"Model {m['model']}; medians of {m['repeats']} rounds (CLI: of {min(m['repeats'], 3)}); "
             "the corpus articles repeated.", "",
             "| shape | articles | units | page size | with --probs | render | render with --probs "
             "| CLI html end to end | CLI jsonl end to end | Chromium load (units found) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for shape, s in m["shapes"].items():
        b = s["browser"]
        browser = f"{b['seconds']:.2f} s ({b['units_found']:,})" if b else "no chromium"
        size, probs_size = s["page_bytes"], s["probs_page_bytes"]
        lines.append(f"| {shape} | {s['articles']:,} | {s['units']:,} | {size / 2**20:.2f} MiB "
                     f"({size / s['units']:.0f} B/unit) | {probs_size / 2**20:.2f} MiB | "
                     f"{1000 * s['render_seconds']:.0f} ms | {1000 * s['probs_render_seconds']:.0f} ms | "
                     f"{s['cli_html_seconds']:.2f} s | {s['cli_jsonl_seconds']:.2f} s | {browser} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="trained model folder")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "html_page.md",
                        help="Markdown file to write; html_page.json is written beside it")
    parser.add_argument("--units", type=int, default=5000, help="units of the input (at least)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (medians are reported)")
    parser.add_argument("--model", default="baseline",
                        help="model family to tag with (default baseline, the throughput tier)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.units < 1:
        parser.error("--repeats and --units must be at least 1")
    measured = measure(args.models.resolve(), args.units, args.repeats, args.model)
    report = render(measured)
    print(report)
    atomic_write_text(args.out, report)
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(measured, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
