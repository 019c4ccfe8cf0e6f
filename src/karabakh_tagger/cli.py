"""Command line: ``karabakh-tagger COMMAND``. Thin wrappers that do the I/O around each stage.

Exit codes: 0 success, 1 a problem with the input (printed as one line per problem on stderr,
no traceback), 2 a usage error (bad flags), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from karabakh_tagger import paths
from karabakh_tagger.errors import InputError

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`); nothing left to say
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
