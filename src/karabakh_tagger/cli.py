"""Command line: ``karabakh-tagger COMMAND``. Thin wrappers that do the I/O around each stage.

Exit codes: 0 success, 1 a problem with the input (printed as one line per problem on stderr,
no traceback), 2 a usage error (bad flags), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from karabakh_tagger import paths
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad combination of flags: exit 2, like argparse's own errors."""


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _is_authored(lines: list[str]) -> bool:
    """True for a file of authored examples (its rows say "source": "authored")."""
    for line in lines:
        try:
            return json.loads(line).get("source") == "authored"
        except (ValueError, AttributeError):
            continue
    return False


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a label file (corpus units, or authored examples) without changing it."""
    from karabakh_tagger.corpus import load_articles, read_text
    from karabakh_tagger.labels import label_counts, validate_authored, validate_units

    articles = load_articles(args.articles)
    lines = read_text(args.path).splitlines()
    if _is_authored(lines):
        corpus_lines = read_text(paths.LABELS_FILE).splitlines() if paths.LABELS_FILE.exists() else []
        corpus = [json.loads(x) for x in corpus_lines if x.strip()] if corpus_lines else []
        rows, problems = validate_authored(lines, corpus)
        columns: list[str] = []
    else:
        rows, problems = validate_units(lines, articles)
        columns = list(articles)
    for problem in problems:
        _err(f"{args.path}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{args.path}: {len(problems)} problem(s); nothing was changed")
        return EXIT_INPUT
    kind = "authored rows" if not columns else f"rows, {len(articles)} articles"
    print(f"{args.path}: {len(rows)} {kind}, all valid")
    for task, counts in label_counts(rows).items():
        print(f"\n{task:<26} {'all':>4}  " + "  ".join(a[:3] for a in columns))
        for name in TASKS[task]:
            per = [sum(r[task] == name and r["article"] == a for r in rows) for a in columns]
            print(f"  {name:<24} {counts[name]:>4}  " + "  ".join(f"{n:>3}" for n in per))
    return EXIT_OK


def _load_training_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """The config and the labelled dataset (with authored rows when the config asks for them)."""
    from karabakh_tagger.config import load_config
    from karabakh_tagger.data import load_labels
    from karabakh_tagger.model import param_grid

    config = load_config(args.config)
    for task in TASKS:
        try:
            param_grid(config, task)
        except InputError as err:
            raise InputError(f"{args.config}: {err}") from None
    authored = args.authored if config.use_authored else None
    if authored is not None and not authored.exists():
        raise InputError(f"{authored}: missing, but {args.config} sets use_authored: true")
    return config, load_labels(args.labels, authored)


@contextlib.contextmanager
def _config_errors(path: Path) -> Iterator[None]:
    """scikit-learn's refusal of a hyperparameter value, as a one-line error about the config."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        yield
    except InvalidParameterError as err:
        raise InputError(f"{path}: {str(err).splitlines()[0]}") from None


def cmd_train(args: argparse.Namespace) -> int:
    """Fit the topic and stance pipelines and write them with their manifest and model card."""
    from karabakh_tagger.train import run_training, summary

    config, dataset = _load_training_data(args)
    with _config_errors(args.config):
        manifest = run_training(dataset, config, args.models, args.labels, args.config)
    print(summary(manifest))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """Nested leave-one-article-out evaluation; writes reports/ (JSON, Markdown, PNG).

    When authored examples exist, the other setting of ``use_authored`` is evaluated on the same
    folds too and reported side by side.
    """
    from dataclasses import replace

    from karabakh_tagger.data import load_labels
    from karabakh_tagger.evaluate import authored_effect, evaluate, oof_rows
    from karabakh_tagger.files import atomic_write_text
    from karabakh_tagger.report import write_reports
    from karabakh_tagger.train import label_names, named_pipeline, train_all

    config, dataset = _load_training_data(args)
    with _config_errors(args.config):
        final = {task: named_pipeline(t, label_names(dataset, task))
                 for task, t in train_all(dataset, config).items()}
    metrics, runs = evaluate(dataset, config, final)
    if args.authored.exists():
        other = replace(config, use_authored=not config.use_authored)
        other_data = load_labels(args.labels, args.authored if other.use_authored else None)
        other_metrics, _ = evaluate(other_data, other, warn=lambda _: None, full=False)
        pair = (metrics, other_metrics) if config.use_authored else (other_metrics, metrics)
        metrics["authored_effect"] = authored_effect(*pair)
    for path in write_reports(metrics, args.out):
        print(f"wrote {path}")
    oof = args.out / "oof_predictions.jsonl"
    atomic_write_text(oof, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in oof_rows(dataset, runs)))
    print(f"wrote {oof}")
    for task in TASKS:
        m = metrics[task]
        base = max(b["macro_f1"] for b in m["baselines"].values())
        extra = f", F_avg {m['f_avg']:.3f}" if task == "stance" else ""
        print(f"{task:<7} nested LOAO macro-F1 {m['macro_f1']:.3f} (best dummy {base:.3f}, "
              f"random split {m['random_split']['macro_f1']:.3f}){extra}")
    if "authored_effect" in metrics:
        effect = metrics["authored_effect"]
        print("authored examples: " + ", ".join(
            f"{t} {effect['without'][t]['macro_f1']:.3f} -> {effect['with'][t]['macro_f1']:.3f}"
            for t in TASKS) + f" (default use_authored: {config.use_authored})")
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
    if args.encoding is not None:
        try:  # the lookup corpus.decode would fail on for every input (b"" skips the lookup)
            b"a".decode(args.encoding)
        except LookupError:
            raise UsageError(f"--encoding: unknown text encoding {args.encoding!r}") from None
        except UnicodeDecodeError:
            pass
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


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file that is expected to be valid (validate it first)."""
    from karabakh_tagger.corpus import read_text

    try:
        return [json.loads(line) for line in read_text(path).splitlines() if line.strip()]
    except ValueError:
        raise InputError(f"{path}: not valid JSON lines; run make validate") from None


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    from karabakh_tagger.files import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def cmd_annotate(args: argparse.Namespace) -> int:
    """Copy new articles into the corpus and write draft label rows with the model's labels."""
    from karabakh_tagger.annotate import add_article, draft_rows, model_version, sort_uncertain
    from karabakh_tagger.tag import load_tagger

    tagger = load_tagger(args.models, warn=_err)
    version = model_version(tagger.manifest)
    rows: list[dict[str, Any]] = []
    for source in args.articles_in:
        ident, text = add_article(source, args.articles)
        new = draft_rows(tagger, ident, text, version)
        print(f"{source} -> {args.articles / (ident + '.txt')}: {len(new)} draft rows")
        rows += new
    if args.sort == "uncertain":
        rows = sort_uncertain(rows)
    _write_jsonl(args.out, rows)
    print(f"wrote {args.out}: review the labels, set status to reviewed, then "
          f"karabakh-tagger accept {args.out}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Convert a draft to a Label Studio or doccano import file."""
    from karabakh_tagger.annotate import label_studio_config, to_doccano, to_label_studio
    from karabakh_tagger.files import atomic_write_text

    rows = _read_rows(args.draft)
    if args.to == "label-studio":
        atomic_write_text(args.out, json.dumps(to_label_studio(rows), ensure_ascii=False, indent=1))
        config = args.out.with_suffix(".xml")
        atomic_write_text(config, label_studio_config())
        print(f"wrote {args.out} ({len(rows)} tasks) and its labelling config {config}")
    else:
        _write_jsonl(args.out, to_doccano(rows))
        print(f"wrote {args.out} ({len(rows)} rows; labels are topic:NAME and stance:NAME)")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Convert an annotation tool's export back to draft rows (annotated rows become reviewed)."""
    from karabakh_tagger.annotate import read_export

    rows, problems = read_export(args.export, getattr(args, "from"))
    for problem in problems:
        _err(f"{args.export}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{args.export}: {len(problems)} problem(s); nothing was written")
        return EXIT_INPUT
    _write_jsonl(args.out, rows)
    reviewed = sum(r.get("status") == "reviewed" for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows, {reviewed} reviewed")
    return EXIT_OK


def cmd_accept(args: argparse.Namespace) -> int:
    """Merge reviewed rows into the labels, all or nothing."""
    from karabakh_tagger.annotate import check_draft, merge
    from karabakh_tagger.corpus import load_articles, read_text

    articles = load_articles(args.articles)
    existing = _read_rows(args.labels) if args.labels.exists() else []
    rows, problems = check_draft(read_text(args.draft).splitlines(), articles, existing)
    for problem in problems:
        _err(f"{args.draft}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{args.draft}: {len(problems)} problem(s); nothing was merged")
        return EXIT_INPUT
    merged = merge(existing, rows, articles)
    _write_jsonl(args.labels, merged)
    print(f"merged {len(merged) - len(existing)} new rows into {args.labels} ({len(merged)} rows)")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    """Rank likely label errors from the nested-CV probabilities; kappa against a second file."""
    from karabakh_tagger.audit import agreement, label_issues, render
    from karabakh_tagger.files import atomic_write_text

    if not args.oof.exists():
        raise InputError(f"{args.oof}: missing; run make eval first")
    issues = label_issues(_read_rows(args.oof))
    second = second_rows = None
    if args.second is not None and args.second.exists():
        second_rows = _read_rows(args.second)
        second = agreement(_read_rows(args.labels), second_rows)
    by_id = {r["id"]: r for r in second_rows or []}
    atomic_write_text(args.out, render(issues, second, by_id, args.top))
    for task, found in issues.items():
        print(f"{task:<7} {len(found)} likely label issue(s)")
    if second is not None:
        print(f"kappa vs {args.second} ({second['shared']} units): "
              + ", ".join(f"{t} {second[t]['kappa']:.3f}" for t in TASKS))
    print(f"wrote {args.out}")
    return EXIT_OK


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

    p = sub.add_parser("annotate", help="draft labels for new articles with the model")
    p.add_argument("articles_in", nargs="+", type=Path, metavar="ARTICLE", help="new article files")
    p.add_argument("--out", type=Path, required=True, help="draft JSONL to write")
    p.add_argument("--sort", choices=("article", "uncertain"), default="article",
                   help="row order: article order, or least confident first")
    p.add_argument("--models", type=Path, default=paths.MODELS_DIR)
    p.add_argument("--articles", type=Path, default=paths.ARTICLES_DIR,
                   help=f"article folder the files are copied into (default {paths.ARTICLES_DIR})")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("export", help="convert a draft for Label Studio or doccano")
    p.add_argument("draft", type=Path)
    p.add_argument("--to", choices=("label-studio", "doccano"), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="convert a Label Studio or doccano export back to a draft")
    p.add_argument("export", type=Path)
    p.add_argument("--from", choices=("label-studio", "doccano"), required=True)
    p.add_argument("--out", type=Path, required=True, help="draft JSONL to write")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("accept", help="merge reviewed draft rows into the labels (all or nothing)")
    p.add_argument("draft", type=Path)
    p.add_argument("--labels", type=Path, default=paths.LABELS_FILE)
    p.add_argument("--articles", type=Path, default=paths.ARTICLES_DIR)
    p.set_defaults(func=cmd_accept)

    p = sub.add_parser("audit", help="likely label errors and Cohen's kappa -> reports/label_issues.md")
    p.add_argument("--oof", type=Path, default=paths.REPORTS_DIR / "oof_predictions.jsonl",
                   help="out-of-fold predictions written by eval")
    p.add_argument("--labels", type=Path, default=paths.LABELS_FILE)
    p.add_argument("--second", type=Path, default=paths.SECOND_ANNOTATOR_FILE,
                   help="a second annotator's labels of the same units (id, topic, stance)")
    p.add_argument("--out", type=Path, default=paths.REPORTS_DIR / "label_issues.md")
    p.add_argument("--top", type=int, default=25, help="rows per task in the report")
    p.set_defaults(func=cmd_audit)
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
