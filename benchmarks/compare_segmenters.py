"""Compare sentence splitters for ``karabakh_tagger.segment.segment``.

Each candidate is an adapter ``(text) -> list[(start, end)]`` plugged into
``segment(text, split=...)``, so the block, trim and cap rules are identical and only the
splitter differs.  Measured:

(a) corpus: boundary precision / recall / F1 of unit spans against ``labels/sentences.jsonl``
    (every unit contributes its start and its end offset; a boundary is correct when the same
    kind of boundary sits at the same offset of the same article), and the number of units
    whose (start, end) matches a gold unit exactly;
(b) hard cases: share of ``tests/data/segmentation_hard_cases.json`` (cases and known
    failures) whose unit texts come out exactly as expected;
(c) speed: gold sentences per second of ``segment()`` on the corpus articles repeated to about
    40,000 sentences, median of several runs, pinned to one core where the OS allows it.

pySBD and syntok are the optional extra ``segmenters``; they are imported here only, never by
the package.  Run from the repository root::

    .venv/bin/python benchmarks/compare_segmenters.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from karabakh_tagger.files import atomic_write_text
from karabakh_tagger.segment import SpanSplitter, blingfire_spans, segment

ROOT = Path(__file__).resolve().parents[1]

ARTICLES = ROOT / "data" / "articles"
GOLD = ROOT / "labels" / "sentences.jsonl"
HARD_CASES = ROOT / "tests" / "data" / "segmentation_hard_cases.json"


# --------------------------------------------------------------------------- adapters


def pysbd_spans_factory() -> SpanSplitter:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)

    def pysbd_spans(text: str) -> list[tuple[int, int]]:
        if not text.strip():
            return []
        return [(span.start, span.end) for span in segmenter.segment(text)]

    return pysbd_spans


def syntok_spans_factory() -> SpanSplitter:
    from syntok import segmenter

    def syntok_spans(text: str) -> list[tuple[int, int]]:
        spans = []
        for paragraph in segmenter.analyze(text):
            for sentence in paragraph:
                if sentence:
                    first, last = sentence[0], sentence[-1]
                    spans.append((first.offset, last.offset + len(last.value)))
        return spans

    return syntok_spans


SPLITTERS: dict[str, Callable[[], SpanSplitter]] = {
    "blingfire (default)": lambda: blingfire_spans,
    "pySBD": pysbd_spans_factory,
    "syntok": syntok_spans_factory,
}


# --------------------------------------------------------------------------- data


def read_article(name: str) -> str:
    return (ARTICLES / f"{name}.txt").read_bytes().decode("utf-8")


def load_gold() -> dict[str, list[tuple[int, int]]]:
    gold: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    with GOLD.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                gold[row["article"]].append((row["index"], row["start"], row["end"]))
    return {a: [(s, e) for _, s, e in sorted(rows)] for a, rows in sorted(gold.items())}


def load_hard_cases() -> list[dict]:
    data = json.loads(HARD_CASES.read_text(encoding="utf-8"))
    return list(data["cases"]) + list(data.get("known_failures", []))


# --------------------------------------------------------------------------- metrics


def corpus_scores(split: SpanSplitter, gold: dict[str, list[tuple[int, int]]]) -> dict:
    tp = n_pred = n_gold = exact = n_units = 0
    for article, gold_spans in gold.items():
        pred_spans = [(u.start, u.end) for u in segment(read_article(article), split=split)]
        n_units += len(pred_spans)
        pred_b = {("s", s) for s, _ in pred_spans} | {("e", e) for _, e in pred_spans}
        gold_b = {("s", s) for s, _ in gold_spans} | {("e", e) for _, e in gold_spans}
        tp += len(pred_b & gold_b)
        n_pred += len(pred_b)
        n_gold += len(gold_b)
        exact += len(set(pred_spans) & set(gold_spans))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "exact": exact,
        "units": n_units,
        "gold_units": sum(len(v) for v in gold.values()),
    }


def hard_case_scores(split: SpanSplitter, cases: list[dict]) -> tuple[int, list[str]]:
    failed = []
    for case in cases:
        got = [u.text for u in segment(case["text"], split=split)]
        if got != case["units"]:
            failed.append(case["name"])
    return len(cases) - len(failed), failed


def speed(
    split: SpanSplitter, gold: dict[str, list[tuple[int, int]]], target: int, runs: int
) -> dict:
    per_copy = sum(len(v) for v in gold.values())
    copies = max(1, round(target / per_copy))
    one_copy = "\n\n".join(read_article(a) for a in gold)
    text = "\n\n".join([one_copy] * copies)
    sentences = per_copy * copies
    segment(one_copy, split=split)  # warm-up: lazy imports, model loading
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        units = segment(text, split=split)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "sentences": sentences,
        "chars": len(text),
        "units": len(units),
        "seconds": seconds,
        "per_second": sentences / seconds,
    }


# --------------------------------------------------------------------------- main


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def measure(sentences: int, runs: int) -> dict:
    """Every splitter's corpus scores, hard cases and speed, as plain data."""
    pinned = pin_to_one_core()
    gold = load_gold()
    cases = load_hard_cases()
    results: dict = {"pinned": pinned, "runs": runs, "cases": len(cases), "splitters": {}}
    for name, factory in SPLITTERS.items():
        split = factory()
        passed, failed = hard_case_scores(split, cases)
        results["splitters"][name] = {"corpus": corpus_scores(split, gold), "hard_passed": passed,
                                      "hard_failed": failed, "speed": speed(split, gold, sentences, runs)}
        print(f"measured {name}", file=sys.stderr)
    return results


def render(results: dict) -> str:
    """The Markdown table of ``measure``'s results."""
    splitters, n_cases = results["splitters"], results["cases"]
    first = next(iter(splitters.values()))
    lines = [f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
             f"{results['pinned']}; speed text: {first['speed']['sentences']:,} gold sentences, median "
             f"of {results['runs']} runs.", "",
             "| splitter | boundary P | boundary R | boundary F1 | exact units "
             f"(of {first['corpus']['gold_units']}) | hard cases passed | sentences/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in splitters.items():
        c, s = r["corpus"], r["speed"]
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['exact']} "
                     f"| {r['hard_passed']}/{n_cases} ({r['hard_passed'] / n_cases:.0%}) "
                     f"| {s['per_second']:,.0f} |")
    lines.append("")
    lines += [f"- {name} fails: {', '.join(r['hard_failed']) or 'none'}" for name, r in splitters.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=40_000, help="size of the speed text")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (the median is kept)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    results = measure(args.sentences, args.runs)
    print(render(results))
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
