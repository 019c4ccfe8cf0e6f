"""Command line: ``karabakh-tagger COMMAND``. Thin wrappers that do the I/O around each stage.

Exit codes: 0 success, 1 a problem with the input (printed as one line per problem on stderr,
no traceback), 2 a usage error (bad flags), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from karabakh_tagger import paths
from karabakh_tagger.errors import InputError

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad combination of flags: exit 2, like argparse's own errors."""


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a label file against the scheme and the articles; print counts when it is clean."""
    from karabakh_tagger.corpus import load_articles, read_text
    from karabakh_tagger.labels import TASKS, label_counts, validate_units

    articles = load_articles(args.articles)
    rows, problems = validate_units(read_text(args.path).splitlines(), articles)
    for problem in problems:
        _err(f"{args.path}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{args.path}: {len(problems)} problem(s); nothing was changed")
        return EXIT_INPUT
    print(f"{args.path}: {len(rows)} rows, {len(articles)} articles, all valid")
    for task, counts in label_counts(rows).items():
        print(f"\n{task:<26} {'all':>4}  " + "  ".join(a[:3] for a in articles))
        for name in TASKS[task]:
            per = [sum(r[task] == name and r["article"] == a for r in rows) for a in articles]
            print(f"  {name:<24} {counts[name]:>4}  " + "  ".join(f"{n:>3}" for n in per))
    return EXIT_OK


def _load_training_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """The config and the labelled dataset (with authored rows when the config asks for them)."""
    from karabakh_tagger.config import load_config
    from karabakh_tagger.data import load_labels

    config = load_config(args.config)
    authored = args.authored if config.use_authored else None
    if authored is not None and not authored.exists():
        raise InputError(f"{authored}: missing, but {args.config} sets use_authored: true")
    return config, load_labels(args.labels, authored)


def cmd_train(args: argparse.Namespace) -> int:
    """Fit the topic and stance pipelines and write them with their manifest and model card."""
    from karabakh_tagger.train import run_training, summary

    config, dataset = _load_training_data(args)
    manifest = run_training(dataset, config, args.models, args.labels, args.config)
    print(summary(manifest))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """Nested leave-one-article-out evaluation; writes reports/ (JSON, Markdown, PNG)."""
    from karabakh_tagger.evaluate import evaluate, oof_rows
    from karabakh_tagger.report import write_reports
    from karabakh_tagger.train import (
        TASK_NAMES,
        atomic_write_text,
        label_names,
        named_pipeline,
        train_all,
    )

    config, dataset = _load_training_data(args)
    final = {task: named_pipeline(t, label_names(dataset, task))
             for task, t in train_all(dataset, config).items()}
    metrics, runs = evaluate(dataset, config, final)
    for path in write_reports(metrics, args.out):
        print(f"wrote {path}")
    oof = args.out / "oof_predictions.jsonl"
    atomic_write_text(oof, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in oof_rows(dataset, runs)))
    print(f"wrote {oof}")
    for task in TASK_NAMES:
        m = metrics[task]
        base = max(b["macro_f1"] for b in m["baselines"].values())
        extra = f", F_avg {m['f_avg']:.3f}" if task == "stance" else ""
        print(f"{task:<7} nested LOAO macro-F1 {m['macro_f1']:.3f} (best dummy {base:.3f}, "
              f"random split {m['random_split']['macro_f1']:.3f}){extra}")
    return EXIT_OK


def cmd_tag(args: argparse.Namespace) -> int:
    """Tag articles (files, folders, stdin) and stream the rows to stdout."""
    from collections import Counter

    from tqdm import tqdm

    from karabakh_tagger.tag import load_tagger, stream
    from karabakh_tagger.tagio import Writer, iter_articles

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.min_score is not None and not 0 <= args.min_score <= 1:
        raise UsageError("--min-score must be between 0 and 1")
    tagger = load_tagger(args.models, warn=_err)
    failed = []

    def error(message: str) -> None:
        failed.append(message)
        _err(message)

    writer = Writer(sys.stdout, args.format, args.probs, args.min_score, tagger.classes)
    articles = iter_articles(args.paths, args.encoding, error, _err)
    topics: Counter[str] = Counter()
    stances: Counter[str] = Counter()
    with tqdm(desc="tagging", unit=" article", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        for _, name, units, last in stream(tagger, articles, jobs=args.jobs, probs=args.probs):
            if args.summary:
                topics.update(u.topic for u in units)
                stances.update(u.stance for u in units)
            else:
                writer.units(units)
            if last:
                bar.update()
                if args.summary:
                    writer.summary(name, topics, stances)
                    topics, stances = Counter(), Counter()
    return EXIT_INPUT if failed else EXIT_OK


def _add_training_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=paths.CONFIG_FILE,
                   help=f"hyperparameter file (default {paths.CONFIG_FILE})")
    p.add_argument("--labels", type=Path, default=paths.LABELS_FILE,
                   help=f"label file (default {paths.LABELS_FILE})")
    p.add_argument("--authored", type=Path, default=paths.AUTHORED_FILE,
                   help=f"authored examples, used when the config says use_authored "
                        f"(default {paths.AUTHORED_FILE})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="karabakh-tagger",
        description="Label, train, evaluate and apply the Nagorno-Karabakh ceasefire tagger.",
        epilog="Exit codes: 0 ok, 1 input problem, 2 usage error, 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a label file against the scheme and the articles")
    p.add_argument("path", nargs="?", type=Path, default=paths.LABELS_FILE,
                   help=f"label file (default {paths.LABELS_FILE})")
    p.add_argument("--articles", type=Path, default=paths.ARTICLES_DIR,
                   help=f"article folder (default {paths.ARTICLES_DIR})")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("train", help="train the topic and stance pipelines into models/")
    _add_training_args(p)
    p.add_argument("--models", type=Path, default=paths.MODELS_DIR,
                   help=f"output folder (default {paths.MODELS_DIR})")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="nested leave-one-article-out evaluation into reports/")
    _add_training_args(p)
    p.add_argument("--out", type=Path, default=paths.REPORTS_DIR,
                   help=f"report folder (default {paths.REPORTS_DIR})")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("tag", help="tag the sentences of new articles",
                       description="Split each article into units and tag each with a topic and a stance.",
                       epilog="Exit codes: 0 ok (also for empty inputs, with a warning), 1 an input "
                              "could not be tagged (the others still were), 2 usage error.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a text file, a directory (every *.txt in it, sorted) or - for stdin")
    p.add_argument("--format", choices=("jsonl", "csv", "table"), default="jsonl",
                   help="output format (default jsonl)")
    p.add_argument("--probs", action="store_true", help="add every class's probability")
    p.add_argument("--summary", action="store_true",
                   help="per article: units per topic and stance, critical vs supportive share")
    p.add_argument("--min-score", type=float, metavar="X",
                   help='mark units whose topic score is below X with "uncertain": true')
    p.add_argument("--models", type=Path, default=paths.MODELS_DIR,
                   help=f"model folder (default {paths.MODELS_DIR})")
    p.add_argument("--encoding", help="decode inputs with this encoding instead of UTF-8")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="tag on N processes (output order is kept)")
    p.set_defaults(func=cmd_tag)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except InputError as err:
        _err(f"error: {err}")
        return EXIT_INPUT
    except UsageError as err:
        _err(f"karabakh-tagger: error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`); nothing left to say
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
