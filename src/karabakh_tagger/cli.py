"""Command line: ``karabakh-tagger COMMAND``. Thin wrappers that do the I/O around each stage.

Exit codes: 0 success, 1 a problem with the input (printed as one line per problem on stderr,
no traceback), 2 a usage error (bad flags), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from karabakh_tagger import paths
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class UsageError(Exception):
    """A bad combination of flags: exit 2, like argparse's own errors."""


class Terminated(Exception):
    """SIGTERM arrived: stop like Ctrl-C, with exit code 143."""


# Control characters (a newline in a file name, an escape sequence) are shown escaped: a message
# stays one line and cannot drive the terminal.
_ESCAPED = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)] if c != 0x09}


def _err(message: str) -> None:
    print(message.translate(_ESCAPED), file=sys.stderr, flush=True)


# --- validate -----------------------------------------------------------------------------------

def _is_authored(path: Path) -> bool:
    """True for the folder of composed batches, or for one batch file of it (rows with "source")."""
    if path.is_dir():
        return True
    from karabakh_tagger.corpus import read_text

    for line in read_text(path).splitlines():
        try:
            return json.loads(line).get("source") == "authored"
        except (ValueError, AttributeError):
            continue
    return False


def _validate_authored(path: Path, labels: Path | None) -> int:
    from karabakh_tagger.corpus import read_text
    from karabakh_tagger.data import authored_files
    from karabakh_tagger.labels import label_counts, validate_authored

    corpus_file = labels or (path if path.is_dir() else path.parent).parent / paths.LABELS_FILE.name
    if not corpus_file.is_file():
        raise InputError(f"{path}: cannot check that composed rows are new sentences: {corpus_file} "
                         "not found (pass --labels FILE)")
    corpus = [json.loads(x) for x in read_text(corpus_file).splitlines() if x.strip()]
    files = authored_files(path) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no *.jsonl batch files here")
    rows, problems = validate_authored({str(f): read_text(f).splitlines() for f in files}, corpus)
    for problem in problems:
        _err(f"{problem.path}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{path}: {len(problems)} problem(s); nothing was changed")
        return EXIT_INPUT
    batches = sorted({r["batch"] for r in rows})
    print(f"{path}: {len(rows)} composed rows in {len(batches)} batches, all valid "
          f"(checked against {corpus_file})")
    for task, counts in label_counts(rows).items():
        print(f"\n{task:<26} {'all':>5}  " + "  ".join(f"{b[:3]:>4}" for b in batches))
        for name in TASKS[task]:
            per = [sum(r[task] == name and r["batch"] == b for r in rows) for b in batches]
            print(f"  {name:<24} {counts[name]:>5}  " + "  ".join(f"{n:>4}" for n in per))
    return EXIT_OK


def _validate_units(path: Path, articles_dir: Path) -> int:
    from karabakh_tagger.corpus import load_articles, read_text
    from karabakh_tagger.labels import label_counts, validate_units

    articles = load_articles(articles_dir)
    rows, problems = validate_units(read_text(path).splitlines(), articles)
    for problem in problems:
        _err(f"{path}:{problem.line}: {problem.message}")
    if problems:
        _err(f"{path}: {len(problems)} problem(s); nothing was changed")
        return EXIT_INPUT
    print(f"{path}: {len(rows)} rows, {len(articles)} articles, all valid")
    for task, counts in label_counts(rows).items():
        print(f"\n{task:<26} {'all':>4}  " + "  ".join(a[:3] for a in articles))
        for name in TASKS[task]:
            per = [sum(r[task] == name and r["article"] == a for r in rows) for a in articles]
            print(f"  {name:<24} {counts[name]:>4}  " + "  ".join(f"{n:>3}" for n in per))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate label files (corpus units, the composed batches) without changing them."""
    targets = args.paths or [paths.LABELS_FILE, paths.AUTHORED_DIR]
    codes = []
    for path in targets:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if _is_authored(path):
            codes.append(_validate_authored(path, args.labels))
        else:
            codes.append(_validate_units(path, args.articles))
    return max(codes)


# --- train and eval ------------------------------------------------------------------------------

def _training_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The loaded config, the labelled data and its sources."""
    from karabakh_tagger.config import load_config
    from karabakh_tagger.data import load_data

    loaded = load_config(args.config, args.set)
    authored = args.authored if loaded.config.use_authored else None
    if authored is not None and not authored.is_dir():
        raise InputError(f"{authored}: missing, but {args.config} sets use_authored: true")
    data, sources = load_data(args.labels, authored)
    return loaded, data, sources


def cmd_train(args: argparse.Namespace) -> int:
    """Fit every model family and write the model folder (pipelines, manifest, model card)."""
    from karabakh_tagger import artifacts
    from karabakh_tagger.model import BASELINE
    from karabakh_tagger.train import train_family

    loaded, data, sources = _training_inputs(args)
    trained = [train_family(BASELINE, data, loaded.config, str(args.config))]
    manifest = artifacts.save(trained, args.models, artifacts.Provenance(sources, loaded, data.texts))
    print(f"trained on {sources.corpus_units} article units and {sources.composed_rows} composed rows "
          f"-> {args.models}/ ({', '.join(manifest.files)})")
    for family, info in manifest.models.items():
        for task, t in info.tasks.items():
            params = ", ".join(f"{k}={v}" for k, v in t.params.items())
            score = f"{t.inner_cv_macro_f1:.3f}" if t.inner_cv_macro_f1 is not None else "–"
            print(f"  {family} {task:<7} inner-CV macro-F1 {score}  ({params})  "
                  f"{info.train_seconds:.1f} s")
        if info.note:
            print(f"  note: {info.note}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """Nested evaluation of every trained family; writes reports/ and the manifest's scores."""
    from karabakh_tagger import artifacts, evaluate
    from karabakh_tagger.audit import read_second
    from karabakh_tagger.files import atomic_write_text
    from karabakh_tagger.model import BASELINE
    from karabakh_tagger.report import headline, write_reports

    if args.out.exists() and not args.out.is_dir():  # before minutes of work, not after
        raise InputError(f"{args.out}: exists and is not a folder; --out takes a folder")
    loaded, data, sources = _training_inputs(args)
    manifest = artifacts.read_manifest(args.models)
    if (manifest.data.labels_sha256, manifest.data.authored_sha256, manifest.config.values_sha256) != (
            sources.labels_sha256, sources.authored_sha256, loaded.values_sha256):
        raise InputError(f"{args.models}: trained on other labels or another config than "
                         f"{args.config}{' with ' + ' '.join(args.set) if args.set else ''}; "
                         "run make train (or karabakh-tagger train with the same options) first")
    families = {BASELINE.name: BASELINE}
    results, runs = {}, {}
    for name, family in families.items():
        if name not in manifest.models:
            continue
        speed = evaluate.scorer_speed(artifacts.load(args.models, name).scorer, list(data.texts))
        results[name], runs[name] = evaluate.evaluate_family(family, data, loaded.config, _err, speed,
                                                             jobs=args.jobs)
    pipelines = artifacts.load_pipelines(args.models, manifest)
    results[BASELINE.name] = evaluate.with_top_features(results[BASELINE.name], pipelines)
    metrics = evaluate.metrics(results, loaded.config, data, read_second(args.second))
    for path in write_reports(metrics, args.out):
        print(f"wrote {path}")
    oof = args.out / "oof_predictions.jsonl"
    atomic_write_text(oof, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in evaluate.oof_rows(data, runs[BASELINE.name])))
    print(f"wrote {oof}")
    artifacts.record_evaluation(args.models, evaluate.headlines(metrics),
                                {n: r.sentences_per_second for n, r in results.items()},
                                metrics.recommended)
    print(f"recorded the scores and the recommended model ({metrics.recommended}) in "
          f"{args.models / artifacts.MANIFEST}")
    for name, result in metrics.families.items():
        print(f"{name}: {headline(result)}")
    return EXIT_OK


# --- tag ---------------------------------------------------------------------------------------

def _check_tag_options(args: argparse.Namespace) -> None:
    from karabakh_tagger.tag import cpu_count

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.jobs > cpu_count():
        _err(f"note: --jobs {args.jobs} capped at {cpu_count()}, the number of CPUs")
        args.jobs = cpu_count()
    if args.min_score is not None and not 0 <= args.min_score <= 1:
        raise UsageError("--min-score must be between 0 and 1")
    if args.encoding is not None:
        try:  # the lookup corpus.decode would fail on for every input
            b"a".decode(args.encoding)
        except LookupError:
            raise UsageError(f"--encoding: unknown text encoding {args.encoding!r}") from None
        except UnicodeDecodeError:
            pass


def cmd_tag(args: argparse.Namespace) -> int:
    """Tag articles (files, folders, stdin) and stream the rows to stdout."""
    from collections import Counter

    from tqdm import tqdm

    from karabakh_tagger.tag import load_tagger, stream
    from karabakh_tagger.tagio import Writer, iter_articles

    _check_tag_options(args)
    tagger = load_tagger(args.models, args.model, warn=_err)
    if sys.stderr.isatty():
        _err(f"tagging with the {tagger.model} model ({args.models})")
    failed = []

    def error(message: str) -> None:
        failed.append(message)
        _err(message)

    _utf8_stdout(args.format)
    writer = Writer(sys.stdout, args.format, args.probs, args.min_score, tagger.classes)
    articles = iter_articles(args.paths, args.encoding, error, _err)
    topics: Counter[str] = Counter()
    stances: Counter[str] = Counter()
    with tqdm(desc="tagging", unit=" article", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar, _output_errors():
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


def _utf8_stdout(fmt: str) -> None:
    """JSON lines and CSV are UTF-8 whatever the locale (a strict reader never fails on them); a
    table goes to a terminal, in its encoding, with what it cannot show replaced."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(**({"errors": "replace"} if fmt == "table" else {"encoding": "utf-8"}))


@contextlib.contextmanager
def _output_errors() -> Iterator[None]:
    """A failed write to stdout (a full disk behind ``> FILE``) as one line naming the file."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as err:
        name = _stdout_name()
        _drop_stdout()
        raise InputError(f"{name}: cannot be written ({err.strerror or err})") from None


def _stdout_name() -> str:
    """What stdout is, for a message: the file it is redirected to where the system says so."""
    from karabakh_tagger.corpus import shown

    try:
        target = os.readlink(f"/proc/self/fd/{sys.stdout.fileno()}")
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return "stdout"
    return f"stdout ({shown(target)})" if target.startswith("/") else "stdout"


def _drop_stdout() -> None:
    """Point stdout at /dev/null: the rows it still buffers cannot be written, and the flush at
    exit must not fail a second time with a traceback."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


# --- the annotation loop -----------------------------------------------------------------------

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

    tagger = load_tagger(args.models, args.model, warn=_err)
    version = model_version(tagger)
    rows: list[dict[str, Any]] = []
    for source in args.articles_in:
        ident, text = add_article(source, args.articles)
        new = draft_rows(tagger, ident, text, version)
        print(f"{source} -> {args.articles / (ident + '.txt')}: {len(new)} draft rows")
        rows += new
    if args.sort == "uncertain":
        rows = sort_uncertain(rows)
    _write_jsonl(args.out, rows)
    print(f"wrote {args.out} (model {version}): review the labels, set status to reviewed, then "
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

    if args.top < 0:
        raise UsageError("--top must be 0 or more")
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


def cmd_readme(args: argparse.Namespace) -> int:
    """Rewrite the README's generated blocks from the committed result snapshots (maintainers)."""
    from karabakh_tagger.readme import update_readme

    changed = update_readme(args.readme, args.results, snapshot_from=args.reports)
    print(f"{args.readme}: {'rewrote ' + ', '.join(changed) if changed else 'already up to date'}")
    return EXIT_OK


# --- the parser ---------------------------------------------------------------------------------

def _add_training_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=paths.CONFIG_FILE,
                   help=f"the base config (default {paths.CONFIG_FILE})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config setting (YAML value), e.g. --set features.kind=char; "
                        "repeatable")
    p.add_argument("--labels", type=Path, default=paths.LABELS_FILE,
                   help=f"corpus label file (default {paths.LABELS_FILE})")
    p.add_argument("--authored", type=Path, default=paths.AUTHORED_DIR,
                   help=f"folder of composed batches, used when the config says use_authored "
                        f"(default {paths.AUTHORED_DIR})")
    p.add_argument("--models", type=Path, default=paths.MODELS_DIR,
                   help=f"model folder (default {paths.MODELS_DIR})")


def _cpus() -> int:
    from karabakh_tagger.tag import cpu_count

    return cpu_count()


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=Path, default=paths.MODELS_DIR,
                   help=f"model folder (default {paths.MODELS_DIR})")
    p.add_argument("--model", default="auto", metavar="FAMILY",
                   help="auto (the recommended model when trained, else the baseline) or a "
                        "trained family such as baseline")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="karabakh-tagger",
        description="Label, train, evaluate and apply the Nagorno-Karabakh ceasefire tagger.",
        epilog="Exit codes: 0 ok, 1 input problem, 2 usage error, 130 interrupted, 143 terminated.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check label files against the scheme and the articles")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                   help=f"a corpus label file, the folder of composed batches or one batch file "
                        f"(default: {paths.LABELS_FILE} and {paths.AUTHORED_DIR})")
    p.add_argument("--articles", type=Path, default=paths.ARTICLES_DIR,
                   help=f"article folder (default {paths.ARTICLES_DIR})")
    p.add_argument("--labels", type=Path, default=None,
                   help="corpus label file the composed rows are checked against (default: "
                        "sentences.jsonl beside the composed folder)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("train", help="train every model family into models/")
    _add_training_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="nested evaluation into reports/ (needs trained models)")
    _add_training_args(p)
    p.add_argument("--out", type=Path, default=paths.REPORTS_DIR,
                   help=f"report folder (default {paths.REPORTS_DIR})")
    p.add_argument("--jobs", type=int, default=_cpus(), metavar="N",
                   help="fit the folds on N processes (default: every CPU); the numbers do not change")
    p.add_argument("--second", type=Path, default=paths.SECOND_LABELS_DIR,
                   help=f"blind second labels of the composed rows (default {paths.SECOND_LABELS_DIR})")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("tag", help="tag the sentences of new articles",
                       description="Split each article into units and tag each with a topic and a stance.",
                       epilog="Exit codes: 0 ok (also for empty inputs, with a warning), 1 an input "
                              "could not be tagged (the others still were), 2 usage error, "
                              "130 interrupted, 143 terminated.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a text file, a directory (every *.txt in it, sorted) or - for stdin")
    p.add_argument("--format", choices=("jsonl", "csv", "table"), default="jsonl",
                   help="output format (default jsonl)")
    p.add_argument("--probs", action="store_true", help="add every class's probability")
    p.add_argument("--summary", action="store_true",
                   help="per article: units per topic and stance, critical vs supportive share")
    p.add_argument("--min-score", type=float, metavar="X",
                   help='add "uncertain" to every row: true where the topic score is below X')
    _add_model_arg(p)
    p.add_argument("--encoding", help="decode inputs with this encoding instead of UTF-8")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="tag on N processes (at most the number of CPUs; output order is kept)")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("annotate", help="draft labels for new articles with the model")
    p.add_argument("articles_in", nargs="+", type=Path, metavar="ARTICLE", help="new article files")
    p.add_argument("--out", type=Path, required=True, help="draft JSONL to write")
    p.add_argument("--sort", choices=("article", "uncertain"), default="article",
                   help="row order: article order, or least confident first")
    _add_model_arg(p)
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

    p = sub.add_parser("readme", help="rewrite the README's generated tables (for maintainers)")
    p.add_argument("--readme", type=Path, default=paths.README_FILE)
    p.add_argument("--results", type=Path, default=paths.RESULTS_DIR,
                   help=f"the committed result snapshots the tables are rendered from "
                        f"(default {paths.RESULTS_DIR})")
    p.add_argument("--reports", type=Path, default=None,
                   help="first copy metrics.json and bench.json from this report folder into --results")
    p.set_defaults(func=cmd_readme)
    return parser


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
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
    except Terminated:
        _err("terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:
        _drop_stdout()
        sys.stderr.close()  # the reader went away (e.g. `| head`); nothing left to say
        return EXIT_OK
    except OSError as err:  # a write that failed outside files.atomic_write: still one line
        from karabakh_tagger.corpus import shown

        where = f"{shown(err.filename)}: " if err.filename else ""
        _err(f"error: {where}{err.strerror or err}")
        return EXIT_INPUT
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
