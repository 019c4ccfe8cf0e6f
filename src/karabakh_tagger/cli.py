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
    from karabakh_tagger import artifacts, encoder
    from karabakh_tagger.model import BASELINE
    from karabakh_tagger.train import train_encoder, train_family

    loaded, data, sources = _training_inputs(args)
    trained = [train_family(BASELINE, data, loaded.config, str(args.config))]
    if loaded.config.encoder.train:
        reason = encoder.missing()
        if reason:
            _err(f"note: the encoder family is not trained: {reason}")
        else:
            trained.append(train_encoder(data, loaded.config, str(args.config)))
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


FINETUNED_RESULT = "finetuned.json"
"""The fine-tuned family's evaluation, kept beside the report so that ``eval`` need not redo it."""


def _evaluation_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The loaded config, data and manifest of eval and finetune; ``--out`` is checked first, before
    minutes of work, and the models must have been trained on these labels with this config."""
    from karabakh_tagger import artifacts

    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"{args.out}: exists and is not a folder; --out takes a folder")
    loaded, data, sources = _training_inputs(args)
    manifest = artifacts.read_manifest(args.models)
    if (manifest.data.labels_sha256, manifest.data.authored_sha256, manifest.config.values_sha256) != (
            sources.labels_sha256, sources.authored_sha256, loaded.values_sha256):
        raise InputError(f"{args.models}: trained on other labels or another config than "
                         f"{args.config}{' with ' + ' '.join(args.set) if args.set else ''}; "
                         "run make train (or karabakh-tagger train with the same options) first")
    return loaded, data, manifest


def _write_evaluation(args: argparse.Namespace, metrics: Any) -> None:
    """The report files, and the headline numbers and recommendation in the manifest."""
    from karabakh_tagger import artifacts, evaluate
    from karabakh_tagger.report import headline, write_reports

    for path in write_reports(metrics, args.out):
        print(f"wrote {path}")
    artifacts.record_evaluation(args.models, evaluate.headlines(metrics),
                                {n: r.sentences_per_second for n, r in metrics.families.items()},
                                metrics.recommended)
    print(f"recorded the scores and the recommended model ({metrics.recommended}) in "
          f"{args.models / artifacts.MANIFEST}")
    for name, result in metrics.families.items():
        print(f"{name}: {headline(result)}")


def cmd_eval(args: argparse.Namespace) -> int:
    """Nested evaluation of every trained family; writes reports/ and the manifest's scores."""
    from karabakh_tagger import artifacts, evaluate
    from karabakh_tagger.audit import read_second
    from karabakh_tagger.files import atomic_write_text
    from karabakh_tagger.model import BASELINE, encoder_family
    from karabakh_tagger.results import FamilyResult
    from karabakh_tagger.typed import build

    loaded, data, manifest = _evaluation_inputs(args)
    results, runs = {}, {}
    for name in manifest.models:
        if name == "finetuned":  # evaluated by `finetune` itself (minutes per fold): read its result
            path = args.out / FINETUNED_RESULT
            if path.exists():
                results[name] = build(FamilyResult, json.loads(path.read_text(encoding="utf-8")), str(path))
            continue
        scorer = artifacts.load(args.models, name).scorer
        # The encoder is frozen: its embeddings of every row, from the saved graph, are its features.
        family = encoder_family(scorer.embedder.embed(list(data.texts))) if name == "encoder" else BASELINE
        speed = evaluate.scorer_speed(scorer, list(data.texts[:512]))
        results[name], runs[name] = evaluate.evaluate_family(family, data, loaded.config, _err, speed,
                                                             jobs=args.jobs)
    results[BASELINE.name] = evaluate.with_top_features(results[BASELINE.name],
                                                        artifacts.load_pipelines(args.models, manifest))
    metrics = evaluate.metrics(results, loaded.config, data, read_second(args.second))
    oof = args.out / "oof_predictions.jsonl"
    atomic_write_text(oof, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in evaluate.oof_rows(data, runs[BASELINE.name])))
    print(f"wrote {oof}")
    _write_evaluation(args, metrics)
    return EXIT_OK


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune MiniLM end to end: evaluate it on the outer folds, add it to the model folder, and
    add its scores to the report, where the family rule then compares every family."""
    import time
    from dataclasses import replace

    import numpy as np

    from karabakh_tagger import artifacts, encoder, evaluate, finetune
    from karabakh_tagger.audit import read_second
    from karabakh_tagger.files import atomic_write_text
    from karabakh_tagger.results import load_metrics
    from karabakh_tagger.train import TrainedFamily
    from karabakh_tagger.typed import to_data

    reason = encoder.missing()
    if reason:
        raise InputError(f"cannot fine-tune: {reason}")
    loaded, data, _ = _evaluation_inputs(args)
    earlier = load_metrics(args.out / "metrics.json")  # run make eval first: the other families' scores
    result, _ = evaluate.evaluate_finetuned(data, loaded.config, _err)
    started = time.perf_counter()
    model = finetune.fine_tune(data, np.arange(len(data)), loaded.config, desc="finetune, all rows")
    onnx, heads = finetune.export(model)
    config = loaded.config
    details = {"weights_sha256": dict(encoder.WEIGHTS), "quantized": False,
               "max_length": config.finetune.max_length, "batch_size": config.encoder.batch_size,
               "hyperparameters": to_data(config.finetune)}
    tokenizer = encoder.verified_weights()["tokenizer.json"].decode("utf-8")
    trained = TrainedFamily(finetune.FAMILY, {}, round(time.perf_counter() - started, 1),
                            {"onnx": onnx, "heads": heads, "details": details, "tokenizer_json": tokenizer,
                             "description": finetune.DESCRIPTION})
    artifacts.add_family(args.models, trained)
    scorer = artifacts.load(args.models, finetune.FAMILY).scorer
    speed = evaluate.scorer_speed(scorer, list(data.texts[:512]))
    result = replace(result, sentences_per_second=round(speed, 1))
    atomic_write_text(args.out / FINETUNED_RESULT, json.dumps(to_data(result), indent=2) + "\n")
    _write_evaluation(args, evaluate.metrics({**earlier.families, finetune.FAMILY: result}, config, data,
                                             read_second(args.second)))
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
    if args.format == "html" and args.summary:
        raise UsageError("--format html already has a summary per article; drop --summary")
    if args.out is not None and args.format != "html":
        raise UsageError("--out is for --format html; the other formats stream to stdout")


def cmd_tag(args: argparse.Namespace) -> int:
    """Tag articles (files, folders, stdin) and stream the rows to stdout."""
    from collections import Counter

    from tqdm import tqdm

    from karabakh_tagger.tag import load_tagger, stream
    from karabakh_tagger.tagio import Writer, iter_articles

    _check_tag_options(args)
    tagger = load_tagger(args.models, args.model, warn=_err, device=args.device)
    if sys.stderr.isatty():
        _err(f"tagging with the {tagger.model} model ({args.models})")
    failed = []

    def error(message: str) -> None:
        failed.append(message)
        _err(message)

    _utf8_stdout(args.format)
    writer = Writer(sys.stdout, args.format, args.probs, args.min_score, tagger.classes)
    articles = iter_articles(args.paths, args.encoding, error, _err)
    if args.format == "html":
        return _tag_html(args, tagger, articles, failed)
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


def _tag_html(args: argparse.Namespace, tagger: Any, articles: Any, failed: list[str]) -> int:
    """The HTML page of the tagged articles, written whole at the end (to --out atomically, or stdout)."""
    from karabakh_tagger.files import atomic_write
    from karabakh_tagger.htmlview import Page
    from karabakh_tagger.tag import stream

    with Page(tagger.manifest, tagger.model, tagger.classes, args.min_score) as page:
        for position, name, units, last in stream(tagger, page.remember(articles), jobs=args.jobs,
                                                  probs=args.probs):
            page.add(position, name, units, last)
        page.problems = [message.removeprefix("error: ") for message in failed]
        if args.out is None:
            sys.stdout.flush()
            page.write(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            def write(tmp: Path) -> None:
                with tmp.open("wb") as handle:
                    page.write(handle)

            atomic_write(args.out, write)
            _err(f"wrote {args.out}: {len(page.articles)} article(s), "
                 f"{sum(a.units for a in page.articles)} units")
    return EXIT_INPUT if failed else EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    """Tag sentences you already have (no segmentation): one row per input row, tag's fields."""
    from karabakh_tagger.tag import TaggedUnit, load_tagger
    from karabakh_tagger.tagio import Writer, iter_sentences

    _check_tag_options(args)
    tagger = load_tagger(args.models, args.model, warn=_err, device=args.device)
    failed: list[str] = []

    def error(message: str) -> None:
        failed.append(message)
        _err(message)

    writer = Writer(sys.stdout, args.format, args.probs, args.min_score, tagger.classes)
    rows = list(iter_sentences(args.path, args.text_column, error))
    for start in range(0, len(rows), 1024):
        chunk = rows[start:start + 1024]
        predictions = tagger.classify([text for _, text in chunk], probs=args.probs)
        writer.units([TaggedUnit(args.path, line, 0, len(p.text), p.text, p.topic, p.topic_score, p.stance,
                                 p.stance_score, p.topic_probs, p.stance_probs)
                      for (line, _), p in zip(chunk, predictions, strict=True)])
    return EXIT_INPUT if failed else EXIT_OK
# --- tag-archive and summarize -----------------------------------------------------------------

def _check_archive_options(args: argparse.Namespace) -> None:
    import codecs

    from karabakh_tagger.tag import cpu_count

    if args.partition_size < 1:
        raise UsageError("--partition-size must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.workers is not None and args.workers > cpu_count():
        _err(f"note: --workers {args.workers} capped at {cpu_count()}, the number of CPUs "
             "(use --scheduler for more)")
        args.workers = cpu_count()
    if args.encoding is not None:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise UsageError(f"--encoding: unknown text encoding {args.encoding!r}") from None


def cmd_tag_archive(args: argparse.Namespace) -> int:
    """Tag an archive on a Dask cluster into one Parquet (or JSONL) file per partition."""
    import time

    from tqdm import tqdm

    from karabakh_tagger.archive import tag_archive

    _check_archive_options(args)
    state: dict[str, Any] = {"bar": None, "articles": 0, "units": 0, "since": time.perf_counter()}

    def say(line: str) -> None:
        if state["bar"] is not None:
            state["bar"].write(line, file=sys.stderr)
        else:
            _err(line)

    def on_start(todo: int, skipped: int) -> None:
        if skipped:
            say(f"resuming: {skipped} partition(s) already done, {todo} to tag")
        state["bar"] = tqdm(total=todo, desc="tagging", unit=" partition", file=sys.stderr,
                            disable=not sys.stderr.isatty())
        state["since"] = time.perf_counter()

    def on_partition(result: Any) -> None:
        state["articles"] += result.articles
        state["units"] += result.units
        seconds = max(1e-9, time.perf_counter() - state["since"])
        state["bar"].set_postfix_str(f"{state['articles'] / seconds:,.0f} articles/s, "
                                     f"{state['units'] / seconds:,.0f} units/s", refresh=False)
        state["bar"].update()

    try:
        summary = tag_archive(args.inputs, args.out, models_dir=args.models, model=args.model,
                              partition_size=args.partition_size, fmt=args.format,
                              text_column=args.text_column, id_column=args.id_column,
                              encoding=args.encoding, overwrite=args.overwrite, workers=args.workers,
                              scheduler=args.scheduler, on_problem=lambda p: say(p.line()),
                              on_partition=on_partition, on_start=on_start, log=say)
    finally:
        if state["bar"] is not None:
            state["bar"].close()
    print(f"{summary.articles:,} articles, {summary.units:,} units in {summary.partitions} partition(s) "
          f"({summary.tagged} tagged, {summary.skipped} already done, {summary.failed} failed) -> "
          f"{summary.out_dir}/ in {summary.seconds:.1f} s; model {summary.model}")
    if summary.problems:
        _err(f"{len(summary.problems)} problem(s), listed in {summary.run_file}")
        return EXIT_INPUT
    return EXIT_OK


def cmd_summarize(args: argparse.Namespace) -> int:
    """Units per topic and stance share per outlet, day or article of a tag-archive output."""
    from karabakh_tagger.files import atomic_write_text
    from karabakh_tagger.summary import default_chart, render, summarize, write_chart

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    summary = summarize(args.dir, args.by, args.limit)
    chart = args.out.with_suffix(".png") if args.out else default_chart(args.dir)
    if summary.total.units:
        write_chart(summary, chart)
    text = render(summary, chart if args.out and summary.total.units else None)
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
    _err(f"wrote {chart}" + (f" and {args.out}" if args.out else "") if summary.total.units
         else "no units: no chart written")
    return EXIT_OK

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


def _write_draft(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a draft, an export or the labels; a write that fails is one line, not a traceback."""
    from karabakh_tagger.annotate import jsonl_text
    from karabakh_tagger.files import atomic_write_text

    try:
        atomic_write_text(path, jsonl_text(rows))
    except OSError as err:
        raise InputError(f"{path}: cannot be written ({err.strerror})") from None


def cmd_annotate(args: argparse.Namespace) -> int:
    """Copy new articles into the corpus and write draft label rows with the model's labels."""
    from karabakh_tagger.annotate import add_articles, draft_rows, model_version, read_article, sort_uncertain
    from karabakh_tagger.tag import load_tagger

    if args.wait < 0:
        raise UsageError("--wait must be 0 or more")
    tagger = load_tagger(args.models, args.model, warn=_err, device=args.device)
    version = model_version(tagger)
    articles = [read_article(source) for source in args.articles_in]
    tagged = tagger.tag_many([a.text for a in articles])
    rows: list[dict[str, Any]] = []

    def write(idents: list[str]) -> None:
        for article, ident, units in zip(articles, idents, tagged, strict=True):
            rows.extend(draft_rows(units, ident, version))
            print(f"{article.source} -> {args.articles / (ident + '.txt')}: {len(units)} draft rows")
        _write_draft(args.out, sort_uncertain(rows) if args.sort == "uncertain" else rows)

    add_articles(articles, args.articles, write, args.wait, _err)
    print(f"wrote {args.out} (model {version}): review the labels, set status to reviewed, then "
          f"karabakh-tagger accept {args.out}")
    return EXIT_OK


def _draft_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a draft to export, every one of them complete enough to come back."""
    from karabakh_tagger.annotate import export_problems, jsonl_lines
    from karabakh_tagger.corpus import read_text
    from karabakh_tagger.labels import parse_lines

    parsed, problems = parse_lines(jsonl_lines(read_text(path)))
    problems = sorted(problems + export_problems(parsed), key=lambda p: p.line)
    for problem in problems:
        _err(f"{path}:{problem.line}: {problem.message}")
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was written")
    return [row for _, row in parsed]


def cmd_export(args: argparse.Namespace) -> int:
    """Convert a draft to a Label Studio or doccano import file, with the tool's label setup."""
    from karabakh_tagger.files import atomic_write_text

    rows = _draft_rows(args.draft)
    try:
        if args.to == "label-studio":
            from karabakh_tagger.label_studio import label_studio_config, to_label_studio

            config = args.out.with_suffix(".xml")
            atomic_write_text(args.out, json.dumps(to_label_studio(rows), ensure_ascii=False, indent=1))
            atomic_write_text(config, label_studio_config())
            print(f"wrote {args.out} ({len(rows)} tasks) and its labelling interface {config}")
        else:
            from karabakh_tagger.doccano import doccano_labels, to_doccano

            labels = args.out.with_suffix(".labels.json")
            _write_draft(args.out, to_doccano(rows))
            atomic_write_text(labels, json.dumps(doccano_labels(), indent=1) + "\n")
            print(f"wrote {args.out} ({len(rows)} examples, no labels: the model's suggestion is in each "
                  f"example's metadata) and the label list {labels}")
    except OSError as err:
        raise InputError(f"{args.out}: cannot be written ({err.strerror})") from None
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Convert an annotation tool's export back to draft rows; only rows people settled are reviewed."""
    from collections import Counter

    from karabakh_tagger.annotate import DRAFT_REASON, reason_kinds, scheme_notes
    from karabakh_tagger.corpus import decode, read_bytes

    tool = getattr(args, "from")
    data = read_bytes(args.export)
    if tool == "label-studio":
        from karabakh_tagger.label_studio import read_label_studio

        if data[:4] == b"PK\x03\x04":
            raise InputError(f"{args.export}: a zip, not a Label Studio JSON export (a doccano export? "
                             "use --from doccano)")
        imported = read_label_studio(decode(data, str(args.export)))
    else:
        from karabakh_tagger.doccano import read_doccano

        imported = read_doccano(data, str(args.export))
    for problem in imported.problems:
        _err(f"{args.export}:{problem.where}: {problem.message}")
    if imported.problems:
        _err(f"{args.export}: {len(imported.problems)} problem(s); nothing was written")
        return EXIT_INPUT
    for note in imported.notes + scheme_notes(imported.rows):
        _err(f"{args.export}:{note.where}: note: {note.message}")
    kinds: Counter[str] = Counter()
    for row in imported.rows:
        reason = row.get(DRAFT_REASON)
        if reason:
            kinds.update(reason_kinds(reason))
            if not reason.startswith(("not annotated", "not labelled", "not reviewed")):
                _err(f"{args.export}: unit {row['id']} stays draft: {reason}")
    _write_draft(args.out, imported.rows)
    reviewed = sum(r["status"] == "reviewed" for r in imported.rows)
    why = f" ({', '.join(f'{n} {k}' for k, n in kinds.most_common())})" if kinds else ""
    print(f"wrote {args.out}: {len(imported.rows)} rows, {reviewed} reviewed, "
          f"{len(imported.rows) - reviewed} still draft{why}")
    return EXIT_OK


def _label_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of the label file accept merges into (none yet if it does not exist)."""
    from karabakh_tagger.annotate import jsonl_lines
    from karabakh_tagger.corpus import read_text

    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in jsonl_lines(read_text(path)) if line.strip()]
    except (ValueError, RecursionError):
        raise InputError(f"{path}: not valid JSON lines; run karabakh-tagger validate {path}") from None


def cmd_accept(args: argparse.Namespace) -> int:
    """Merge reviewed rows into the labels, all or nothing, under the label file's lock."""
    from karabakh_tagger.annotate import check_draft, jsonl_lines, locked, merge, still_draft
    from karabakh_tagger.corpus import load_articles, read_text

    if args.wait < 0:
        raise UsageError("--wait must be 0 or more")
    articles = load_articles(args.articles)
    lines = jsonl_lines(read_text(args.draft))
    with locked(args.labels, args.wait, _err):
        existing = _label_rows(args.labels)
        rows, problems = check_draft(lines, articles, existing)
        for problem in problems:
            _err(f"{args.draft}:{problem.line}: {problem.message}")
        if problems:
            count, why = still_draft(lines)
            if count:
                _err(f"{args.draft}: {count} row(s) still draft: "
                     + ", ".join(f"{n} {k}" for k, n in why.most_common()))
            _err(f"{args.draft}: {len(problems)} problem(s); nothing was merged")
            return EXIT_INPUT
        merged = merge(existing, rows, articles)
        _write_draft(args.labels, merged)
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
    p.add_argument("--model", default="auto", choices=("auto", "baseline", "encoder", "finetuned"),
                   help="auto (default: the recommended model when it is trained, else the "
                        "baseline), or a trained family: baseline, encoder, finetuned")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="run the encoder on the CPU (default) or a CUDA GPU (onnxruntime-gpu)")


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

    p = sub.add_parser("finetune", help="fine-tune MiniLM end to end (minutes), evaluate it, add it to "
                                        "models/ and to the report (needs make eval first)")
    _add_training_args(p)
    p.add_argument("--out", type=Path, default=paths.REPORTS_DIR,
                   help=f"report folder (default {paths.REPORTS_DIR})")
    p.add_argument("--second", type=Path, default=paths.SECOND_LABELS_DIR,
                   help=f"blind second labels of the composed rows (default {paths.SECOND_LABELS_DIR})")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("tag", help="tag the sentences of new articles",
                       description="Split each article into units and tag each with a topic and a stance.",
                       epilog="Exit codes: 0 ok (also for empty inputs, with a warning), 1 an input "
                              "could not be tagged (the others still were), 2 usage error, "
                              "130 interrupted, 143 terminated.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a text file, a directory (every *.txt in it, sorted) or - for stdin")
    p.add_argument("--format", choices=("jsonl", "csv", "table", "html"), default="jsonl",
                   help="output format (default jsonl); html is one self-contained page, see --out")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="with --format html: write the page to FILE, all or nothing (default stdout)")
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

    p = sub.add_parser("classify", help="tag sentences you already have (JSON lines or CSV)",
                       description="Topic and stance of each row's text, as given (no segmentation). "
                                   "Output rows have tag's fields: article is the input file, index the "
                                   "row's line number, start 0 and end the text's length.",
                       epilog="Exit codes: 0 ok, 1 a row without text or the file unusable (the other "
                              "rows are still tagged), 2 usage error.")
    p.add_argument("path", metavar="FILE", help="JSON lines (.jsonl, or - for stdin) or .csv/.tsv")
    p.add_argument("--text-column", default="text", help="the column holding the text (default text)")
    p.add_argument("--format", choices=("jsonl", "csv", "table"), default="jsonl")
    p.add_argument("--probs", action="store_true", help="add every class's probability")
    p.add_argument("--min-score", type=float, metavar="X",
                   help='add "uncertain" to every row: true where the topic score is below X')
    _add_model_arg(p)
    p.set_defaults(func=cmd_classify, jobs=1, encoding=None, summary=False, out=None)

    wait = {"type": float, "default": 60.0, "metavar": "SECONDS",
            "help": "wait this long for another run that holds the lock, then give up changing "
                    "nothing (default 60)"}
    p = sub.add_parser("tag-archive", help="tag a news archive on a Dask cluster (partitioned, resumable)",
                       description="Tag every article of folders of *.txt, JSON-lines or Parquet files on a "
                                   "Dask cluster into one Parquet (or JSONL) file per partition, and "
                                   "_run.json. A rerun skips the partitions already done.",
                       epilog="Exit codes: 0 ok, 1 an input, partition or article could not be tagged (the "
                              "others were; see _run.json) or the model failed verification, 2 usage "
                              "error, 130 interrupted, 143 terminated.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a folder of *.txt (one article each), a .jsonl or .parquet file, or a glob")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_model_arg(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="start a LocalCluster of N worker processes (default: every CPU)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster, e.g. tcp://host:8786 (starts none)")
    p.add_argument("--partition-size", type=int, default=500, metavar="N",
                   help="articles per partition (default 500)")
    p.add_argument("--format", choices=("parquet", "jsonl"), default="parquet",
                   help="output file format (default parquet)")
    p.add_argument("--text-column", default="text", metavar="NAME",
                   help="JSONL/Parquet: the column holding the article text (default text)")
    p.add_argument("--id-column", default="id", metavar="NAME",
                   help="JSONL/Parquet: the column naming the article (default id)")
    p.add_argument("--encoding", help="decode *.txt inputs with this encoding instead of UTF-8")
    p.add_argument("--overwrite", action="store_true", help="redo every partition, even those done")
    p.set_defaults(func=cmd_tag_archive)

    p = sub.add_parser("summarize", help="table and chart of a tag-archive output",
                       description="Units per topic and stance share per outlet, day or article of a "
                                   "tag-archive output folder; a PNG chart beside --out (or in DIR).")
    p.add_argument("dir", type=Path, metavar="DIR", help="a tag-archive output folder")
    p.add_argument("--by", choices=("auto", "outlet", "date", "article"), default="auto",
                   help="group by outlet, day (month past 120 days) or article; auto: outlet when there "
                        "are two or more, else date when present, else article")
    p.add_argument("--out", type=Path, help="also write the Markdown here and the chart beside it (.png)")
    p.add_argument("--limit", type=int, default=40, metavar="N",
                   help="outlets or articles listed (the largest N; default 40)")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("annotate", help="draft labels for new articles with the model",
                       description="Copy each new article byte for byte into the article folder (id "
                                   "NNN_<sha256 prefix>, allocated under the folder's lock) and write "
                                   "draft rows with the model's labels (status draft).")
    p.add_argument("articles_in", nargs="+", type=Path, metavar="ARTICLE", help="new article files")
    p.add_argument("--out", type=Path, required=True, help="draft JSONL to write")
    p.add_argument("--sort", choices=("article", "uncertain"), default="article",
                   help="row order: article order, or least confident first")
    _add_model_arg(p)
    p.add_argument("--articles", type=Path, default=paths.ARTICLES_DIR,
                   help=f"article folder the files are copied into (default {paths.ARTICLES_DIR})")
    p.add_argument("--wait", **wait)
    p.set_defaults(func=cmd_annotate)

    formats = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "export", help="convert a draft for Label Studio or doccano", formatter_class=formats,
        description="Convert a draft for an annotation tool (see the README, 'Grow the labels').\n\n"
                    "--to label-studio: OUT is a JSON list of tasks (data.text, data.row) with the model's\n"
                    "  labels as predictions (pre-annotations, not annotations), and OUT with .xml is the\n"
                    "  labelling interface (topic and stance, one choice each, both required).\n"
                    "--to doccano: OUT is JSONL for a Text Classification project, WITHOUT labels: the\n"
                    "  model's suggestion (suggested_topic, suggested_stance, scores) and the unit are the\n"
                    "  example's metadata, so every label in doccano's export is a person's. OUT with\n"
                    "  .labels.json is the label list (topic:NAME, stance:NAME) to import under Labels.")
    p.add_argument("draft", type=Path)
    p.add_argument("--to", choices=("label-studio", "doccano"), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import", help="convert a Label Studio or doccano export back to a draft", formatter_class=formats,
        description="Convert an annotation tool's export back to draft rows. A row is reviewed only\n"
                    "when its annotators chose exactly one topic and one stance and agree; any other row\n"
                    "stays draft, the unsettled task empty, with draft_reason saying why (never filled\n"
                    "from the model). Problems (wrong types, a foreign file) are one line each and\n"
                    "nothing is written.\n\n"
                    "--from label-studio: the JSON or JSON_MIN export (CSV/TSV are refused).\n"
                    "--from doccano: the JSONL export as doccano gives it (a zip, one USER.jsonl per\n"
                    "  member), one JSONL file of it, or the JSON export. Export only approved examples.\n"
                    "  An export of the old upload (labels uploaded with the file) is refused.")
    p.add_argument("export", type=Path)
    p.add_argument("--from", choices=("label-studio", "doccano"), required=True)
    p.add_argument("--out", type=Path, required=True, help="draft JSONL to write")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("accept", help="merge reviewed draft rows into the labels (all or nothing)",
                       description="Check every row of a draft and merge it into the label file, all or "
                                   "nothing, holding the label file's lock for the whole read-merge-write.")
    p.add_argument("draft", type=Path)
    p.add_argument("--labels", type=Path, default=paths.LABELS_FILE)
    p.add_argument("--articles", type=Path, default=paths.ARTICLES_DIR)
    p.add_argument("--wait", **wait)
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
