"""Quality and speed of the baseline's feature variants, on the same nested folds as ``make eval``.

Each variant is the base config with one override (``features.kind=word|char|union``); each is
evaluated by ``karabakh_tagger.evaluate.evaluate_family`` exactly as ``make eval`` evaluates the
shipped model (nested leave-one-article-out on the real units and leave-one-batch-out on the
composed batches), and its scorer's speed is measured on the labelled texts. The model families
themselves (baseline, encoder) are compared by ``make eval`` (reports/report.md, "Choosing the
model"); this script answers "would another feature kind have done better?".

    .venv/bin/python benchmarks/quality.py [--kinds word char union] [--out reports/quality.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from karabakh_tagger.config import load_config
from karabakh_tagger.data import load_data
from karabakh_tagger.evaluate import evaluate_family, scorer_speed
from karabakh_tagger.files import atomic_write_text
from karabakh_tagger.labels import TASKS
from karabakh_tagger.model import BASELINE
from karabakh_tagger.scorers import PipelineScorer
from karabakh_tagger.tag import cpu_count
from karabakh_tagger.train import train_family

ROOT = Path(__file__).resolve().parents[1]


def measure(kinds: list[str], jobs: int) -> list[dict[str, Any]]:
    """One row of numbers per feature kind."""
    data, _ = load_data(ROOT / "labels" / "sentences.jsonl", ROOT / "labels" / "authored")
    rows = []
    for kind in kinds:
        config = load_config(ROOT / "configs" / "baseline.yaml", [f"features.kind={kind}"]).config
        started = time.perf_counter()
        trained = train_family(BASELINE, data, config, kind)
        train_s = time.perf_counter() - started
        speed = scorer_speed(PipelineScorer({t: trained.tasks[t].pipeline for t in TASKS}), list(data.texts))
        result, _ = evaluate_family(BASELINE, data, config, lambda _: None, speed, jobs)
        rows.append({"kind": kind, "train_s": round(train_s, 1), "eval_s": result.seconds,
                     "sentences_per_second": round(speed),
                     **{f"{task}_{key}": (getattr(result.tasks[task], key).macro_f1
                                          if getattr(result.tasks[task], key) else None)
                        for task in TASKS for key in ("loao", "lobo")}})
        print(f"{kind}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown table."""
    lines = ["# Feature variants of the baseline", "",
             "Nested scores as `make eval` computes them; sentences/s of the pipelines' `predict_proba` "
             "(both tasks, one vectorizer each) on the labelled texts. The shipped kind (word) was fixed "
             "before these numbers; they are not used to choose it.", "",
             "| features.kind | topic LOAO | topic LOBO | stance LOAO | stance LOBO | train s | eval s | "
             "sentences/s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['topic_loao']:.3f} | {r['topic_lobo']:.3f} | "
                     f"{r['stance_loao']:.3f} | {r['stance_lobo']:.3f} | {r['train_s']} | {r['eval_s']} | "
                     f"{r['sentences_per_second']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=["word", "char", "union"])
    parser.add_argument("--jobs", type=int, default=cpu_count())
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "quality.md")
    args = parser.parse_args(argv)
    rows = measure(args.kinds, args.jobs)
    atomic_write_text(args.out, render(rows))
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(rows, indent=2) + "\n")
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


