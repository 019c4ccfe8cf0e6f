"""Tag a news archive on a Dask cluster: the same tagger, partitioned, resumable.

An archive is folders (or globs) of ``*.txt`` articles, JSON-lines files or Parquet files whose rows
are articles. The client cuts it into partitions of whole articles (``plan``: a run of files, a range
of lines, a range of rows; nothing is read but file listings, sizes and Parquet footers), and each
partition is one Dask task: the worker reads its articles, tags them with ``Tagger.tag_many`` (the
code path of ``karabakh-tagger tag``), and writes ``part-NNNNN.parquet`` (or ``.jsonl``) through a
temp name and a rename, then its record ``_parts/part-NNNNN.json``. Partition files are named by
position, so a task that Dask reruns after a worker died rewrites the same file: nothing is
duplicated. ``_run.json`` (inputs, partitioning, model, counts, failures) is written last.

The model is checked on the client before anything is submitted (``artifacts.verify_all``), and
each worker process loads it once (``tag.load_tagger``, cached by the manifest's sha256) and
refuses to tag if the folder it sees is not the one the client checked. Inputs, models and the
output folder must be at the same paths on every worker (a shared file system on a real cluster).

A rerun skips each partition whose record says it was written from the same inputs (path, size,
modification time, range), options, package version and model; ``overwrite`` redoes everything.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from karabakh_tagger import __version__
from karabakh_tagger.corpus import MAX_BYTES, read_text
from karabakh_tagger.errors import InputError
from karabakh_tagger.files import atomic_write, atomic_write_text, sha256_file
from karabakh_tagger.typed import to_data

if TYPE_CHECKING:
    from distributed import Client, Future

    from karabakh_tagger.artifacts import Manifest
    from karabakh_tagger.tag import Tagger

RUN_FILE = "_run.json"
PARTS_DIR = "_parts"
LOCK_FILE = ".lock"
FORMATS = ("parquet", "jsonl")
CARRIED = ("id", "outlet", "date", "url")
"""Article columns carried into every output row (null where the input has none); ``id`` is read
from ``id_column``."""
TAG_FIELDS = ("article", "index", "start", "end", "text", "topic", "topic_score", "stance", "stance_score")
ROW_FIELDS = (*TAG_FIELDS, *CARRIED, "source", "row")
DEFAULT_PARTITION_SIZE = 500
RUN_FORMAT = 1
TXT_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES = (".txt",), (".jsonl", ".ndjson"), (".parquet", ".pq")


# --- what travels between client and workers ---------------------------------------------------

@dataclass(frozen=True)
class Options:
    """What shapes the rows of a partition besides its input and the model."""

    text_column: str = "text"
    id_column: str = "id"
    encoding: str | None = None
    fmt: str = "parquet"


@dataclass(frozen=True)
class Partition:
    """Whole articles of one input: ``kind`` txt (``paths[start:stop]`` of a folder or glob), jsonl
    (bytes ``start:stop`` of a file, first line ``first_row``) or parquet (rows ``start:stop``)."""

    name: str
    kind: str
    source: str  # the input as shown to the user (a file, or the folder or glob of .txt files)
    paths: tuple[str, ...]  # absolute: workers may run elsewhere
    shown: tuple[str, ...]  # the same files as the user would write them
    start: int
    stop: int
    first_row: int  # the first article's row (line, file) number, from 1
    rows: int  # lines (jsonl, blank ones included), rows (parquet) or files (txt)
    columns: tuple[str, ...]  # parquet: the columns to read
    key: str  # sha256 of everything above that decides the rows, plus file sizes and times

    def describe(self) -> str:
        """``part-00003 (news.jsonl lines 1001-2000)``: where a person finds the partition's articles."""
        if self.kind == "txt":
            span = self.shown[0] if len(self.shown) == 1 else f"{self.shown[0]} .. {self.shown[-1]}"
            return f"{self.name} ({span})"
        what = "lines" if self.kind == "jsonl" else "rows"
        return f"{self.name} ({self.source} {what} {self.first_row}-{self.first_row + self.rows - 1})"


@dataclass(frozen=True)
class ModelRef:
    """The model the client verified: where it is, which family, and its manifest."""

    models_dir: str
    family: str
    manifest_sha256: str
    manifest: Manifest


@dataclass(frozen=True)
class Problem:
    """An input that could not be tagged: a whole partition (``row`` None) or one article."""

    partition: str | None
    source: str
    row: int | None
    reason: str

    def line(self) -> str:
        """One line for stderr: ``error: part-00002: news.jsonl: row 17: no "text" field``."""
        where = f"{self.partition}: " if self.partition else ""
        row = f": row {self.row}" if self.row is not None else ""
        return f"error: {where}{self.source}{row}: {self.reason}"


@dataclass(frozen=True)
class PartResult:
    """What a worker sends back (and writes as ``_parts/NAME.json``)."""

    name: str
    key: str
    model_sha256: str
    file: str | None  # None when the partition could not be read at all
    bytes: int
    articles: int
    units: int
    problems: tuple[Problem, ...]
    seconds: float
    worker: str


@dataclass(frozen=True)
class RunSummary:
    """What a run did; ``ok`` is False when any partition or article was not tagged."""

    out_dir: Path
    partitions: int
    tagged: int
    skipped: int
    failed: int
    articles: int
    units: int
    problems: tuple[Problem, ...]
    seconds: float
    model: str
    run_file: Path

    @property
    def ok(self) -> bool:
        return not self.problems


class ModelError(InputError):
    """A worker could not load the model the client checked: the run stops."""


# --- planning (client side) --------------------------------------------------------------------

def _stat_key(path: Path) -> list[Any]:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _key(kind: str, files: Sequence[Path], start: int, stop: int, options: Options) -> str:
    blob = json.dumps([RUN_FORMAT, __version__, kind, [_stat_key(f) for f in files], start, stop,
                       asdict(options)])
    return hashlib.sha256(blob.encode()).hexdigest()


def _expand(raw: str) -> tuple[list[Path], Problem | None]:
    """The files one INPUT names: a folder's ``*.txt`` (sorted, as ``tag`` reads it), a glob's
    matches (sorted), or the file itself."""
    if glob.has_magic(raw):
        found = sorted(Path(p) for p in glob.glob(raw, recursive=True) if Path(p).is_file())
        return found, None if found else Problem(None, raw, None, "no file matches this pattern")
    path = Path(raw)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.txt") if p.is_file())
        return found, None if found else Problem(None, raw, None, "no *.txt files in this folder")
    if path.is_file():
        return [path], None
    return [], Problem(None, raw, None, "no such file or folder" if not path.exists() else
                       "not a regular file")


def plan(inputs: Sequence[str], options: Options, partition_size: int,
         warn: Callable[[str], None] = lambda m: None) -> tuple[list[Partition], list[Problem]]:
    """Partitions of at most ``partition_size`` articles over every input, in input order, and
    the inputs that cannot be read at all. A JSONL or Parquet file without rows only warns."""
    parts: list[Partition] = []
    problems: list[Problem] = []

    def name() -> str:
        return f"part-{len(parts):05d}"

    for raw in inputs:
        files, problem = _expand(raw)
        if problem:
            problems.append(problem)
        txt = [f for f in files if f.suffix.lower() in TXT_SUFFIXES]
        for k in range(0, len(txt), partition_size):
            chunk = txt[k:k + partition_size]
            try:
                key = _key("txt", [f.resolve() for f in chunk], k, k + len(chunk), options)
            except OSError as err:
                problems.append(Problem(None, raw, None, f"cannot be read ({err.strerror})"))
                continue
            parts.append(Partition(name(), "txt", raw, tuple(str(f.resolve()) for f in chunk),
                                   tuple(str(f) for f in chunk), k, k + len(chunk), k + 1, len(chunk), (),
                                   key))
        for f in files:
            suffix, before = f.suffix.lower(), len(parts)
            try:
                if suffix in JSONL_SUFFIXES:
                    for start, stop, first, rows in _jsonl_ranges(f, partition_size):
                        parts.append(Partition(name(), "jsonl", str(f), (str(f.resolve()),), (str(f),),
                                               start, stop, first, rows, (),
                                               _key("jsonl", [f.resolve()], start, stop, options)))
                elif suffix in PARQUET_SUFFIXES:
                    columns, rows = _parquet_layout(f, options)
                    for start in range(0, rows, partition_size):
                        stop = min(rows, start + partition_size)
                        parts.append(Partition(name(), "parquet", str(f), (str(f.resolve()),), (str(f),),
                                               start, stop, start + 1, stop - start, columns,
                                               _key("parquet", [f.resolve()], start, stop, options)))
                elif suffix not in TXT_SUFFIXES:
                    problems.append(Problem(None, str(f), None, "not a .txt, .jsonl or .parquet file"))
                    continue
                if suffix not in TXT_SUFFIXES and len(parts) == before:
                    warn(f"warning: {f}: empty; no articles")
            except InputError as err:
                problems.append(Problem(None, str(f), None, str(err)))
            except OSError as err:
                problems.append(Problem(None, str(f), None, f"cannot be read ({err.strerror})"))
    return parts, problems


def _jsonl_ranges(path: Path, lines: int) -> Iterator[tuple[int, int, int, int]]:
    """Byte ranges of every ``lines`` lines of a file: (start, stop, first line number, lines)."""
    start, first, seen, offset = 0, 1, 0, 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 23):
            at = 0
            while seen + block.count(b"\n", at) >= lines:
                for _ in range(lines - seen):
                    at = block.index(b"\n", at) + 1
                yield start, offset + at, first, lines
                start, first, seen = offset + at, first + lines, 0
            seen += block.count(b"\n", at)
            offset += len(block)
    if offset > start:  # the last lines, the final one perhaps without a newline
        yield start, offset, first, seen + (not _ends_with_newline(path))


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _parquet_layout(path: Path, options: Options) -> tuple[tuple[str, ...], int]:
    """The columns to read from a Parquet file, and its number of rows (from the footer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, ValueError) as err:
        raise InputError(f"not a readable Parquet file ({_first_line(err)})") from None
    names = meta.schema.to_arrow_schema().names
    if options.text_column not in names:
        raise InputError(f"no {options.text_column!r} column (columns: {', '.join(names) or 'none'}); "
                         "pass --text-column")
    wanted = [options.text_column, options.id_column, *CARRIED[1:]]
    return tuple(dict.fromkeys(c for c in wanted if c in names)), meta.num_rows


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# --- the worker side ---------------------------------------------------------------------------

_CACHE: dict[tuple[str, str, str], Tagger] = {}
_CACHE_LOCK = threading.Lock()
LOADS: list[tuple[str, str, str]] = []
"""Every model load of this process (the tests check that a worker loads once per run)."""


def worker_tagger(ref: ModelRef) -> Tagger:
    """This process's Tagger for ``ref``: loaded and verified once, then reused by every task."""
    key = (ref.models_dir, ref.family, ref.manifest_sha256)
    with _CACHE_LOCK:
        if key not in _CACHE:
            from karabakh_tagger.tag import load_tagger

            try:
                tagger = load_tagger(ref.models_dir, ref.family)
            except InputError as err:
                raise ModelError(f"on worker {socket.gethostname()}: {err}") from None
            if tagger.manifest != ref.manifest:
                raise ModelError(f"on worker {socket.gethostname()}: {ref.models_dir} is not the model "
                                 "folder the run was started with (retrained, or another folder at "
                                 "that path); rerun")
            _CACHE.clear()  # one model per worker: a long-lived worker does not pile them up
            _CACHE[key] = tagger
            LOADS.append(key)
        return _CACHE[key]


@dataclass
class _Read:
    """The articles of a partition, as columns, and the rows that had no usable text."""

    names: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    carried: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in CARRIED})
    sources: list[str] = field(default_factory=list)
    rows: list[int | None] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def add(self, part: Partition, source: str, row: int | None, name: str, text: Any,
            values: dict[str, Any], column: str) -> None:
        reason = _no_text(text, column)
        if reason:
            self.problems.append(Problem(part.name, source, row, reason))
            return
        self.names.append(name)
        self.texts.append(text)
        for c in CARRIED:
            self.carried[c].append(_plain(values.get(c)))
        self.sources.append(source)
        self.rows.append(row)


def _no_text(text: Any, column: str) -> str | None:
    if text is None:
        return f"no {column!r} (missing or null)"
    if not isinstance(text, str):
        return f"{column!r} is a {type(text).__name__}, not a string"
    if not text.strip():
        return "no text (empty)"
    if len(text) > MAX_BYTES:
        return f"too large ({len(text):,} characters; the limit is {MAX_BYTES:,})"
    return None


def _plain(value: Any) -> str | None:
    """A carried value as text: dates as ISO strings, numbers as written."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _read_txt(part: Partition, options: Options, out: _Read) -> None:
    for path, shown in zip(part.paths, part.shown, strict=True):
        try:
            text = read_text(Path(path), options.encoding)
        except InputError as err:
            out.problems.append(Problem(part.name, shown, None, str(err).removeprefix(f"{path}: ")))
            continue
        out.add(part, shown, None, shown, text, {}, "text")  # the path as given, as in tag


def _read_jsonl(part: Partition, options: Options, out: _Read) -> None:
    with open(part.paths[0], "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.stop - part.start)
    base = Path(part.source).name
    for k, line in enumerate(data.split(b"\n")):
        row = part.first_row + k
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            out.problems.append(Problem(part.name, part.source, row, f"not valid JSON ({_first_line(err)})"))
            continue
        if not isinstance(obj, dict):
            out.problems.append(Problem(part.name, part.source, row, "not a JSON object"))
            continue
        values = {c: obj.get(c) for c in CARRIED[1:]} | {"id": obj.get(options.id_column)}
        name = str(values["id"]) if values["id"] is not None else f"{base}:{row}"
        out.add(part, part.source, row, name, obj.get(options.text_column), values, options.text_column)


def _read_parquet(part: Partition, options: Options, out: _Read) -> None:
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(part.paths[0])
    meta, offset, groups, first = handle.metadata, 0, [], None
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if offset < part.stop and offset + n > part.start:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    table = handle.read_row_groups(groups, columns=list(part.columns))
    table = table.slice(part.start - (first or 0), part.stop - part.start)
    columns = {c: table.column(c).to_pylist() for c in part.columns}
    base = Path(part.source).name
    for k, text in enumerate(columns[options.text_column]):
        row = part.start + k + 1
        values = {c: columns[c][k] for c in CARRIED[1:] if c in columns}
        values["id"] = columns[options.id_column][k] if options.id_column in columns else None
        name = str(values["id"]) if values["id"] is not None else f"{base}:{row}"
        out.add(part, part.source, row, name, text, values, options.text_column)


_READERS: dict[str, Callable[[Partition, Options, _Read], None]] = {
    "txt": _read_txt, "jsonl": _read_jsonl, "parquet": _read_parquet}


def _schema() -> Any:
    import pyarrow as pa

    types = {"index": pa.int64(), "start": pa.int64(), "end": pa.int64(), "topic_score": pa.float64(),
             "stance_score": pa.float64(), "row": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in ROW_FIELDS])


def _write_rows(path: Path, columns: dict[str, list[Any]], fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(columns, schema=_schema())
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        return
    encoder = json.JSONEncoder(ensure_ascii=False)  # the encoding of `tag --format jsonl`
    n = len(columns["article"])
    atomic_write_text(path, "".join(encoder.encode({f: columns[f][i] for f in ROW_FIELDS}) + "\n"
                                    for i in range(n)))


def tag_partition(part: Partition, ref: ModelRef, options: Options, out_dir: str) -> PartResult:
    """One Dask task: read, tag and write one partition, then its record. Deterministic: a rerun
    (after a worker died) rewrites the same file with the same rows."""
    started = time.perf_counter()
    tagger = worker_tagger(ref)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    read = _Read()
    try:
        _READERS[part.kind](part, options, read)
    except Exception as err:  # a corrupt or vanished input: the partition fails, the run goes on
        reason = f"cannot be read ({type(err).__name__}: {_first_line(err)})"
        return PartResult(part.name, part.key, ref.manifest_sha256, None, 0, 0, 0,
                          (Problem(part.name, part.source, None, reason),),
                          time.perf_counter() - started, worker)
    columns: dict[str, list[Any]] = {f: [] for f in ROW_FIELDS}
    tagged = tagger.tag_many(read.texts, read.names)
    for k, units in enumerate(tagged):
        for unit in units:
            for f, value in unit.to_dict().items():
                columns[f].append(value)
        for c in CARRIED:
            columns[c] += [read.carried[c][k]] * len(units)
        columns["source"] += [read.sources[k]] * len(units)
        columns["row"] += [read.rows[k]] * len(units)
    out = Path(out_dir)
    path = out / f"{part.name}.{options.fmt}"
    _write_rows(path, columns, options.fmt)
    result = PartResult(part.name, part.key, ref.manifest_sha256, path.name, path.stat().st_size,
                        len(read.texts), len(columns["article"]), tuple(read.problems),
                        time.perf_counter() - started, worker)
    atomic_write_text(out / PARTS_DIR / f"{part.name}.json", json.dumps(asdict(result)) + "\n")
    return result


def worker_check(models_dir: str, out_dir: str) -> dict[str, Any]:
    """What the client asks each worker before a run: its version, and whether it sees the model
    folder and the output folder the client locked."""
    return {"version": __version__, "models": os.path.isfile(os.path.join(models_dir, "manifest.json")),
            "out": os.path.isfile(os.path.join(out_dir, LOCK_FILE)), "host": socket.gethostname()}


# --- the client side ---------------------------------------------------------------------------

def _read_record(path: Path) -> PartResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["problems"] = tuple(Problem(**p) for p in data["problems"])
        return PartResult(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None  # unreadable: the partition is simply redone


def _done(part: Partition, record: PartResult | None, out: Path, ref: ModelRef) -> bool:
    """True when the partition's output is there and was written from the same inputs and model."""
    if record is None or record.key != part.key or record.model_sha256 != ref.manifest_sha256:
        return False
    if record.file is None:
        return False
    try:
        return (out / record.file).stat().st_size == record.bytes
    except OSError:
        return False


def _check_out(out: Path) -> None:
    """Refuse a folder that holds other files: the stale-file clean-up would remove nothing of
    theirs, but a dataset reader would mix them in."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; --out takes a folder")
    if out.is_dir() and not (out / RUN_FILE).exists() and not (out / PARTS_DIR).is_dir():
        others = [p.name for p in out.iterdir() if p.name != LOCK_FILE]
        if others:
            raise InputError(f"{out}: not empty and not a tag-archive output (no {RUN_FILE}); choose an "
                             "empty or new folder")


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One run per output folder at a time (on one machine)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / PARTS_DIR).mkdir(exist_ok=True)
    with (out / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out}: another tag-archive run is writing this folder") from None
        yield


def _clean(out: Path, expected: set[str]) -> None:
    """Remove temp files of killed tasks and outputs of partitions no longer in the plan."""
    for folder in (out, out / PARTS_DIR):
        for path in folder.glob(".part-*.tmp"):
            path.unlink(missing_ok=True)
    outputs = [*out.glob("part-*.parquet"), *out.glob("part-*.jsonl"), *(out / PARTS_DIR).glob("part-*.json")]
    for path in outputs:
        if path.name not in expected:
            path.unlink(missing_ok=True)


def model_ref(models_dir: Path, model: str) -> ModelRef:
    """Verify every file of the model folder and resolve ``model`` ("auto" or a family)."""
    from karabakh_tagger import artifacts

    manifest = artifacts.verify_all(models_dir)
    family = artifacts.choose(manifest, model)
    sha = sha256_file(models_dir / artifacts.MANIFEST)
    return ModelRef(str(models_dir.resolve()), family, sha, manifest)


def _preflight(client: Client, ref: ModelRef, out: Path) -> int:
    """Every worker runs this package's version and sees the model and output folders; returns the
    number of worker threads."""
    try:
        client.wait_for_workers(1, timeout=60)
        checks = client.run(worker_check, ref.models_dir, str(out.resolve()))
    except Exception as err:
        raise InputError(f"the cluster's workers cannot run karabakh-tagger ({type(err).__name__}: "
                         f"{_first_line(err)}); install the same version on every worker") from None
    for address, check in checks.items():
        if check["version"] != __version__:
            raise InputError(f"worker {address} runs karabakh-tagger {check['version']}, this client "
                             f"{__version__}; install the same version everywhere")
        for what, path in (("models", ref.models_dir), ("out", str(out.resolve()))):
            if not check[what]:
                raise InputError(f"worker {address} ({check['host']}) does not see {path}; inputs, models "
                                 "and --out must be on a file system every worker shares")
    return sum(client.nthreads().values()) or 1


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None,
            log: Callable[[str], None] = lambda m: None) -> Iterator[Client]:
    """A Client: of the cluster at ``scheduler``, or of a LocalCluster of ``workers`` processes
    started here and shut down on exit."""
    import importlib.util
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=15)
        except (OSError, TimeoutError) as err:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({_first_line(err)})") from None
        with client:
            yield client
        return
    from karabakh_tagger.tag import cpu_count

    dashboard = importlib.util.find_spec("bokeh") is not None
    with LocalCluster(n_workers=workers or cpu_count(), threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as local, \
            Client(local) as client:
        if dashboard:
            log(f"dashboard: {client.dashboard_link}")
        yield client


def tag_archive(inputs: Sequence[str], out_dir: str | Path, client: Client | None = None, *,
                models_dir: str | Path = "models", model: str = "auto",
                partition_size: int = DEFAULT_PARTITION_SIZE, fmt: str = "parquet",
                text_column: str = "text", id_column: str = "id", encoding: str | None = None,
                overwrite: bool = False, workers: int | None = None, scheduler: str | None = None,
                on_problem: Callable[[Problem], None] = lambda p: None,
                on_partition: Callable[[PartResult], None] = lambda r: None,
                on_start: Callable[[int, int], None] = lambda todo, skipped: None,
                log: Callable[[str], None] = lambda m: None) -> RunSummary:
    """Tag every article of ``inputs`` into ``out_dir``; with ``client=None`` a LocalCluster of
    ``workers`` processes (or the cluster at ``scheduler``) is used for the run.

    The model is verified before anything else (an InputError stops the run); problems with inputs
    or articles are passed to ``on_problem`` as they are found, recorded in ``_run.json`` and
    returned, and never stop the other partitions.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r} (choose {' or '.join(FORMATS)})")
    if partition_size < 1:
        raise InputError("the partition size must be at least 1")
    started, wall = datetime.now(UTC), time.perf_counter()
    ref = model_ref(Path(models_dir), model)
    out = Path(out_dir)
    _check_out(out)
    options = Options(text_column, id_column, encoding, fmt)
    parts, problems = plan(inputs, options, partition_size, log)
    for problem in problems:
        on_problem(problem)
    with _locked(out):
        (out / RUN_FILE).unlink(missing_ok=True)  # present only while it describes the files
        records = {p.stem: _read_record(p) for p in (out / PARTS_DIR).glob("part-*.json")}
        skipped = {p.name: records[p.name] for p in parts
                   if not overwrite and _done(p, records.get(p.name), out, ref)}
        todo = [p for p in parts if p.name not in skipped]
        on_start(len(todo), len(skipped))
        for record in skipped.values():
            for problem in record.problems:
                on_problem(problem)
        results: dict[str, PartResult] = {}
        if todo:
            with contextlib.ExitStack() as stack:
                if client is None:
                    client = stack.enter_context(cluster(workers, scheduler, log))
                results = _run(client, todo, ref, options, out, on_problem, on_partition)
        all_results = {**skipped, **results}
        _clean(out, {n for r in all_results.values() if r.file for n in (r.file, f"{r.name}.json")})
        summary = _write_run(out, inputs, options, partition_size, ref, parts, all_results, set(skipped),
                             problems, started, time.perf_counter() - wall)
    return summary


def _run(client: Client, todo: list[Partition], ref: ModelRef, options: Options, out: Path,
         on_problem: Callable[[Problem], None], on_partition: Callable[[PartResult], None]
         ) -> dict[str, PartResult]:
    """Submit the partitions, a bounded window at a time, and collect their results as they come."""
    from distributed import as_completed

    window = max(8, 4 * _preflight(client, ref, out))
    pending = iter(todo)
    by_future: dict[Future, Partition] = {}
    results: dict[str, PartResult] = {}

    def submit() -> Future | None:
        part = next(pending, None)
        if part is None:
            return None
        future = client.submit(tag_partition, part, ref, options, str(out.resolve()),
                               key=f"kt-{part.name}-{part.key[:16]}-{ref.manifest_sha256[:8]}", pure=False)
        by_future[future] = part
        return future

    futures = as_completed([f for f in (submit() for _ in range(window)) if f is not None])
    try:
        for future in futures:
            part = by_future.pop(future)
            result = _outcome(future, part, ref)
            results[part.name] = result
            for problem in result.problems:
                on_problem(problem)
            on_partition(result)
            future.release()
            nxt = submit()
            if nxt is not None:
                futures.add(nxt)
    finally:
        if by_future:
            client.cancel(list(by_future))
    return results


def _outcome(future: Future, part: Partition, ref: ModelRef) -> PartResult:
    """The task's result, or a failed result that says why (a worker that kept dying, a bug)."""
    if future.status == "finished":
        return future.result()
    try:
        error = future.exception()
    except Exception as err:  # cancelled: the scheduler lost it
        error = err
    if isinstance(error, ModelError):
        raise InputError(str(error))
    reason = f"not tagged ({type(error).__name__}: {_first_line(error) if error else 'cancelled'})"
    return PartResult(part.name, part.key, ref.manifest_sha256, None, 0, 0, 0,
                      (Problem(part.name, part.source, None, reason),), 0.0, "")


def _write_run(out: Path, inputs: Sequence[str], options: Options, partition_size: int, ref: ModelRef,
               parts: list[Partition], results: dict[str, PartResult], skipped: set[str],
               plan_problems: list[Problem], started: datetime, seconds: float) -> RunSummary:
    """Write ``_run.json`` (last, atomically) and return the summary."""
    from karabakh_tagger.artifacts import versions

    problems = [*plan_problems, *(p for part in parts if part.name in results
                                  for p in results[part.name].problems)]
    failed = sum(1 for r in results.values() if r.file is None)
    tagged = len(results) - len(skipped) - failed
    articles = sum(r.articles for r in results.values())
    units = sum(r.units for r in results.values())
    info = ref.manifest.models[ref.family]
    run = {
        "format_version": RUN_FORMAT, "package_version": __version__, "versions": versions(),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": round(seconds, 3),
        "inputs": list(inputs),
        "options": {**asdict(options), "partition_size": partition_size},
        "model": {"models_dir": ref.models_dir, "family": ref.family, "manifest_sha256": ref.manifest_sha256,
                  "version": ref.manifest.version_name(ref.family),
                  "evaluation": to_data(info.evaluation) if info.evaluation else None},
        "counts": {"partitions": len(parts), "tagged": tagged,
                   "skipped": len(skipped), "failed": failed, "articles": articles, "units": units,
                   "problems": len(problems)},
        "partitions": [{"name": p.name, "kind": p.kind, "source": p.source, "files": len(p.paths),
                        "range": [p.start, p.stop], "first_row": p.first_row, "rows": p.rows,
                        "key": p.key,
                        "status": ("skipped" if p.name in skipped else "failed"
                                   if results[p.name].file is None else "tagged"),
                        "file": results[p.name].file, "articles": results[p.name].articles,
                        "units": results[p.name].units, "worker": results[p.name].worker}
                       for p in parts],
        "failures": [asdict(p) for p in problems],
    }
    atomic_write_text(out / RUN_FILE, json.dumps(run, indent=1, ensure_ascii=False) + "\n")
    return RunSummary(out, len(parts), tagged, len(skipped), failed, articles, units,
                      tuple(problems), seconds, run["model"]["version"], out / RUN_FILE)
