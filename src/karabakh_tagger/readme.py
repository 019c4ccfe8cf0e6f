"""The README's generated blocks: every table of results, speed and layout is rendered here from
committed snapshots (``docs/results/metrics.json`` from ``make eval``, ``docs/results/bench.json``
from ``make bench``) and from the package itself, and written between markers::

    <!-- generated:NAME -->
    ...
    <!-- /generated:NAME -->

``make readme`` copies fresh snapshots from ``reports/`` and rewrites the blocks; a test fails when a
block differs from what this module renders, so the README never disagrees with the numbers.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from karabakh_tagger.errors import InputError
from karabakh_tagger.files import atomic_write_text
from karabakh_tagger.labels import TASKS
from karabakh_tagger.results import Metrics, load_metrics

METRICS, BENCH = "metrics.json", "bench.json"
TABLES = {"archive": "archive.md", "html-page": "html_page.md"}
"""Blocks that are a benchmark's own Markdown (``benchmarks/archive.py``, ``benchmarks/html_page.py``)."""
PACKAGE = Path(__file__).resolve().parent
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)",
                    re.DOTALL)


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_results(metrics: Metrics) -> str:
    """Headline scores per family and task, with the dummy floor and the leaky split beside them."""
    d = metrics.data
    lines = [f"Measured {metrics.created[:10]} (`make eval`): {d.corpus_units} real units of "
             f"{len(d.articles)} articles, {d.composed_rows} composed rows in {len(d.batches)} batches.",
             "", "| model | task | leave-one-article-out macro-F1 | accuracy | best dummy | "
             "leave-one-batch-out macro-F1 | shuffled split (leaky) |", "|---|---|---|---|---|---|---|"]
    for family, result in metrics.families.items():
        for task in TASKS:
            r = result.tasks[task]
            best = max(b.macro_f1 for b in r.baselines["loao"].values())
            favg = f" (F_avg {r.loao.f_avg:.3f})" if r.loao.f_avg is not None else ""
            lines.append(f"| {family} | {task} | **{r.loao.macro_f1:.3f}**{favg} | {r.loao.accuracy:.3f} | "
                         f"{best:.3f} | {_f(r.lobo.macro_f1 if r.lobo else None)} | "
                         f"{_f(r.random_split.macro_f1 if r.random_split else None)} |")
    return "\n".join(lines) + "\n"


def render_choice(metrics: Metrics) -> str:
    """The family rule's table and its verdict, as the report gives it."""
    from karabakh_tagger.report import choice_table

    return "\n".join(choice_table(metrics)) + "\n"


def render_batches(metrics: Metrics) -> str:
    """Composed batches: size, labels twice, frame distance."""
    d = metrics.data
    lines = ["| batch | rows | kappa topic | kappa stance | nearest cosine median / max |",
             "|---|---|---|---|---|"]
    for name, b in d.batches.items():
        lines.append(f"| {name} | {b.rows} | {_f(b.kappa.topic if b.kappa else None)} | "
                     f"{_f(b.kappa.stance if b.kappa else None)} | {b.nearest_cosine_median:.2f} / "
                     f"{b.nearest_cosine_max:.2f} |")
    if d.kappa_all:
        lines.append(f"| all | {d.composed_rows} | {d.kappa_all.topic:.3f} | {d.kappa_all.stance:.3f} | |")
    return "\n".join(lines) + "\n"


def render_speed(bench: dict[str, Any]) -> str:
    """The benchmark's rows and targets (``benchmarks/bench.py`` writes the snapshot)."""
    lines = [f"Measured {bench['created'][:10]} (`make bench`) on {bench['machine']}.", "",
             "| row | sentences/s | × time of the reference |", "|---|---:|---:|"]
    lines += [f"| {r['row']} | {r['sentences_per_second']:,.0f} | {r['ratio']:.2f} |" for r in bench["rows"]]
    lines += ["", "| measure | value | target |", "|---|---:|---|"]
    lines += [f"| {m['measure']} | {m['value']} | {m['target']}: {'pass' if m['passed'] else 'FAIL'} |"
              for m in bench["measures"]]
    return "\n".join(lines) + "\n"


def render_modules() -> str:
    """The package's modules with the first line of each docstring (the source is the truth)."""
    lines = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        paragraph = " ".join(doc.split("\n\n")[0].split()).replace("``", "`")
        first = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].rstrip(":")
        lines.append(f"- `{path.stem}`: {first}")
    return "\n".join(lines) + "\n"


def _bench(results: Path) -> dict[str, Any]:
    try:
        return json.loads((results / BENCH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{results / BENCH}: missing or not JSON; run make bench, then "
                         "make readme") from None


def _table(results: Path, name: str) -> str:
    path = results / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise InputError(f"{path}: missing; run make bench, then make readme") from None
    return "\n".join(line for line in text.splitlines() if not line.startswith("# ")).strip() + "\n"


def blocks(results: Path) -> dict[str, Callable[[], str]]:
    """Each generated block's renderer, reading the snapshots in ``results``."""
    metrics = lambda: load_metrics(results / METRICS)  # noqa: E731
    out: dict[str, Callable[[], str]] = {
        "results": lambda: render_results(metrics()), "choice": lambda: render_choice(metrics()),
        "batches": lambda: render_batches(metrics()), "speed": lambda: render_speed(_bench(results)),
        "modules": render_modules}
    for block, name in TABLES.items():
        out[block] = lambda name=name: _table(results, name)
    return out


def render_readme(text: str, results: Path) -> str:
    """The README text with every generated block rewritten."""
    renderers = blocks(results)

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in renderers:
            raise InputError(f"README block {name!r} has no renderer (known: {', '.join(renderers)})")
        return match.group(1) + renderers[name]() + match.group(4)

    return _BLOCK.sub(replace, text)


def update_readme(readme: Path, results: Path, snapshot_from: Path | None = None) -> list[str]:
    """Copy fresh snapshots (when asked), rewrite the README's blocks; the names of changed blocks."""
    if snapshot_from is not None:
        for name in (METRICS, BENCH, *TABLES.values()):
            source = snapshot_from / name
            if source.exists():
                atomic_write_text(results / name, source.read_text(encoding="utf-8"))
    before = readme.read_text(encoding="utf-8")
    after = render_readme(before, results)
    old = {m["name"]: m["body"] for m in _BLOCK.finditer(before)}
    changed = [m["name"] for m in _BLOCK.finditer(after) if old.get(m["name"]) != m["body"]]
    if changed:
        atomic_write_text(readme, after)
    return changed
