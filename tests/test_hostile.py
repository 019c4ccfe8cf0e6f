"""The reliability suite: hostile input, faults and interrupts, as a hostile new user would try them.

Every case is a real ``karabakh-tagger`` process with a time limit (or a Python API call where
users make one): unbounded sources (/dev/zero, /dev/urandom, stdin, a FIFO), binary data behind
``--encoding``, file names that are not UTF-8, terminal escapes, a full disk in every write
command (an ``OSError(ENOSPC)`` injected on write, or /dev/full as stdout), Ctrl-C and SIGTERM
with one to four worker processes, pickles that run code, bad configs and manifests, bad options.
The README's "Guarantees" section is the promise these tests keep.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from karabakh_tagger import artifacts, load_tagger
from karabakh_tagger.config import load_config
from karabakh_tagger.corpus import MAX_BYTES
from karabakh_tagger.errors import InputError
from karabakh_tagger.tag import stream

from conftest import (
    ARTICLES_DIR,
    BASE_CONFIG,
    DATA,
    ENV,
    LABELS_FILE,
    ROOT,
    Run,
    big_crlf_text,
    cli_command,
    read_jsonl,
    run_cli,
    run_many,
    set_args,
    write_jsonl,
    write_marker_pickle,
)

LIMIT = 60
"""Seconds any one process of this module may take: a hang fails the test instead of the suite."""
NEW_ARTICLE = Path(__file__).parent / "data" / "composed_article.txt"
CORPUS_ONLY = ("use_authored=false", "search.grid.classifier.C=[1.0]",
               "search.grid.classifier.class_weight=[balanced]", "evaluation.random_split_folds=2",
               "evaluation.learning_curve_rows=[0, 40]")
"""A second, quick model (corpus units only, one grid point): for eval, and to differ from ``models``."""
NO_SPACE = os.strerror(28)  # "No space left on device"

FULL_DISK = '''
import builtins, errno, io, os
_FULL = os.path.realpath(os.environ["KT_FULL_DISK"]) + os.sep
_open = io.open

class _Full:
    """A file on a disk that fills up: the first write stores half its data, then fails."""
    def __init__(self, raw):
        self._raw = raw
    def write(self, data):
        self._raw.write(data[: len(data) // 2])
        self._raw.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._raw.close()
    def __getattr__(self, name):
        return getattr(self._raw, name)

def _open_on_full_disk(file, mode="r", *args, **kwargs):
    handle = _open(file, mode, *args, **kwargs)
    if any(c in mode for c in "wax+") and not isinstance(file, int) and \\
            os.fsdecode(os.path.realpath(file)).startswith(_FULL):
        return _Full(handle)
    return handle

builtins.open = io.open = _open_on_full_disk
'''
"""Every file opened for writing under $KT_FULL_DISK fails with ENOSPC after half a write."""

MEMORY_CAP = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))"
"""2 GiB of address space (a bounded read needs a tenth of it): should reading ever become unbounded
again, the process fails with a MemoryError instead of taking the machine's memory."""

MORE_CPUS = "import karabakh_tagger.tag as t\nt.cpu_count = lambda: 8"
"""Lets ``--jobs 4`` run four workers on a machine with fewer CPUs (the cap is what stops it)."""


def _one_line(run: Run, code: int, *needles: str) -> None:
    """Exit ``code`` and one line on stderr (after the warnings a run may print), no traceback."""
    assert run.code == code, run.describe()
    lines = [line for line in run.err_lines if not line.startswith("warning: ")]
    assert len(lines) == 1 and "Traceback" not in run.err, run.describe()
    for needle in needles:
        assert needle in run.err, (needle, run.describe())


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name]


@pytest.fixture(scope="module")
def corpus_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus_only") / "models"
    run = run_cli("train", *set_args(CORPUS_ONLY), "--models", folder, timeout=LIMIT)
    assert run.code == 0, run.describe()
    return folder


# --- size: at most MAX_BYTES + 1 bytes are read, from any source --------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hostile")
    f = {"base": base, "over": base / "over.txt", "sparse": base / "sparse.txt",
         "late_nul": base / "late.txt", "png": base / "picture.png", "a": base / "a" / "x.txt",
         "b": base / "b" / "x.txt", "escapes": base / "escapes.txt", "good": base / "good.txt"}
    f["over"].write_bytes(b"word " * (MAX_BYTES // 5 + 1))  # text, one byte over the limit and a few
    with f["sparse"].open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    f["late_nul"].write_bytes(b"The truce holds. " * 5000 + b"\x00" + b"More text.")  # NUL after 85 KB
    f["png"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08\x00\x00\x00\x08\x08\x02"
                         + bytes(range(256)) * 4 + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    for key, text in (("a", "Russia sent peacekeepers."), ("b", "Turkey wants a role.")):
        f[key].parent.mkdir()
        f[key].write_text(text, encoding="utf-8")
    f["noise"] = base / "noise.bin"  # high bytes and no NUL: any byte is latin-1, none of this is text
    f["noise"].write_bytes(bytes(0x80 + (i * 37) % 0x80 for i in range(4000)))
    f["french"] = base / "french.txt"  # cp1252 curly quotes (0x92) read as latin-1: C1, but rare
    f["french"].write_bytes("L’accord de cessez-le-feu, signé à Moscou, inquiète Paris.\n".encode("cp1252"))
    f["escaped_name"] = base / "red\x1b[31m.txt"
    f["escaped_name"].write_text("The truce holds.", encoding="utf-8")
    f["escapes"].write_text("The truce \x1b[2J\x1b]0;pwned\x07holds. \x9b31mRead more\n", encoding="utf-8")
    f["good"].write_text("The ceasefire holds. Russia sent peacekeepers.\n", encoding="utf-8")
    return f


@pytest.fixture(scope="module")
def size_runs(inputs: dict[str, Path], models: Path) -> dict[str, Run]:
    m = ("--models", models)
    return run_many({
        "dev_zero": (["tag", "/dev/zero", *m], None),
        "dev_urandom": (["tag", "/dev/urandom", *m], None),
        "stdin_zero": (["tag", "-", *m], Path("/dev/zero")),
        "stdin_over": (["tag", "-", *m], inputs["over"]),
        "file_over": (["tag", inputs["over"], *m], None),
        "sparse": (["tag", inputs["sparse"], *m], None),
    }, timeout=LIMIT, prelude=MEMORY_CAP)


@pytest.mark.parametrize(("case", "name"), [
    ("dev_zero", "/dev/zero"), ("dev_urandom", "/dev/urandom"), ("stdin_zero", "stdin"),
    ("stdin_over", "stdin"), ("file_over", "over.txt"), ("sparse", "sparse.txt")])
def test_an_input_over_the_limit_is_refused_in_one_line_whatever_its_source(size_runs, case, name):
    _one_line(size_runs[case], 1, f"{name}: too large", f"{MAX_BYTES:,}")
    assert size_runs[case].out == ""


def test_a_fifo_is_read_up_to_the_limit_only(tmp_path, models):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:  # an endless writer: the reader must stop, not the writer
        with contextlib.suppress(BrokenPipeError), fifo.open("wb") as handle:
            while True:
                handle.write(b"word " * 100_000)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    run = run_cli("tag", fifo, "--models", models, timeout=LIMIT, prelude=MEMORY_CAP)
    _one_line(run, 1, f"{fifo}: too large", f"{MAX_BYTES:,}")
    writer.join(LIMIT)
    assert not writer.is_alive()


def test_annotate_reads_a_fifo_once(tmp_path, models):
    """The article is read once, bytes and text together: a second read of a pipe would wait for
    a writer that has gone."""
    fifo = tmp_path / "article.fifo"
    os.mkfifo(fifo)
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, articles)
    writer = threading.Thread(target=lambda: fifo.write_bytes(NEW_ARTICLE.read_bytes()), daemon=True)
    writer.start()
    run = run_cli("annotate", fifo, "--out", tmp_path / "draft.jsonl", "--models", models,
                  "--articles", articles, timeout=LIMIT)
    assert run.code == 0, run.describe()
    copies = [p for p in articles.glob("*.txt") if p.stem.startswith("005_")]
    assert [c.read_bytes() for c in copies] == [NEW_ARTICLE.read_bytes()]
    assert read_jsonl(tmp_path / "draft.jsonl")


def test_an_endless_export_is_refused_at_the_limit(tmp_path):
    run = run_cli("import", "/dev/zero", "--from", "doccano", "--out", tmp_path / "x.jsonl",
                  timeout=LIMIT, prelude=MEMORY_CAP)
    _one_line(run, 1, "/dev/zero: too large", f"{MAX_BYTES:,}")
    assert not (tmp_path / "x.jsonl").exists()


# --- binary data is refused on the whole file, also with --encoding ------------------------------

@pytest.fixture(scope="module")
def input_runs(inputs: dict[str, Path], models: Path) -> dict[str, Run]:
    m = ("--models", models)
    return run_many({
        "late_nul": (["tag", inputs["late_nul"], *m], None),
        "png_latin1": (["tag", inputs["png"], "--encoding", "latin-1", *m], None),
        "png_cp437": (["tag", inputs["png"], "--encoding", "cp437", *m], None),
        "noise_latin1": (["tag", inputs["noise"], "--encoding", "latin-1", *m], None),
        "french_latin1": (["tag", inputs["french"], "--encoding", "latin-1", *m], None),
        "same_stem": (["tag", inputs["a"], inputs["b"], *m], None),
        "table": (["tag", inputs["escapes"], "--format", "table", *m], None),
        "summary_table": (["tag", inputs["escaped_name"], "--summary", "--format", "table", *m], None),
        "newline_name": (["tag", str(inputs["base"] / "two\nlines.txt"), *m], None),
    }, timeout=LIMIT)


def test_a_nul_byte_after_the_first_64_kib_still_means_binary(input_runs, inputs):
    _one_line(input_runs["late_nul"], 1, str(inputs["late_nul"]), "not a text file")


@pytest.mark.parametrize(("case", "name"), [("png_latin1", "png"), ("png_cp437", "png"),
                                            ("noise_latin1", "noise")])
def test_encoding_does_not_switch_binary_detection_off(input_runs, inputs, case, name):
    _one_line(input_runs[case], 1, str(inputs[name]), "not a text file")
    assert input_runs[case].out == ""


def test_text_in_another_encoding_is_still_text(input_runs):
    run = input_runs["french_latin1"]
    assert run.code == 0 and run.err == "", run.describe()
    text = "L\x92accord de cessez-le-feu, signé à Moscou, inquiète Paris."
    assert [r["text"] for r in run.rows()] == [text]


def test_a_file_name_that_is_not_utf8_gives_valid_utf8_json(tmp_path, models):
    name = os.fsdecode(bytes(tmp_path) + b"/caf\xff.txt")  # as Python gets it from argv: a surrogate
    Path(name).write_text("The truce holds.", encoding="utf-8")
    runs = run_many({"found": (["tag", name, "--models", models], None),
                     "missing": (["tag", name + ".gone", "--models", models], None)}, timeout=LIMIT)
    # run_cli decodes stdout and stderr strictly as UTF-8: a raw 0xFF would fail right there
    assert runs["found"].code == 0, runs["found"].describe()
    assert {r["article"] for r in runs["found"].rows()} == {f"{tmp_path}/caf\ufffd.txt"}
    _one_line(runs["missing"], 1, f"{tmp_path}/caf\ufffd.txt.gone: no such file")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_output_is_utf8_whatever_the_locale(tmp_path, models, fmt):
    path = tmp_path / "ru.txt"
    path.write_text("Путин подписал соглашение о прекращении огня.", encoding="utf-8")
    run = run_cli("tag", path, "--format", fmt, "--models", models, timeout=LIMIT,
                  env={**ENV, "PYTHONIOENCODING": "latin-1", "LC_ALL": "C"})
    assert run.code == 0 and run.err == "", run.describe()  # run_cli decodes stdout as UTF-8
    assert "Путин подписал" in run.out


def test_two_inputs_with_the_same_stem_get_distinct_article_names(input_runs, inputs):
    run = input_runs["same_stem"]
    assert run.code == 0, run.describe()
    assert [r["article"] for r in run.rows()] == [str(inputs["a"]), str(inputs["b"])]


@pytest.mark.parametrize("case", ["table", "summary_table"])
def test_table_output_carries_no_control_characters(input_runs, case):
    run = input_runs[case]
    assert run.code == 0, run.describe()
    assert not [c for c in run.out if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0], run.out
    assert ("\ufffd[2J" if case == "table" else "red\ufffd[31m.txt: 1 units") in run.out


def test_a_file_name_with_a_newline_is_still_one_line(input_runs):
    _one_line(input_runs["newline_name"], 1, "two\\x0alines.txt: no such file")


# --- a full disk in every write command: one line, exit 1, previous files intact, no temp file ---

@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory, models: Path, corpus_models: Path
              ) -> tuple[Path, dict[str, Run]]:
    """Every write command with its output under a folder whose writes fail with ENOSPC."""
    base = tmp_path_factory.mktemp("loop")
    full = base / "full"
    full.mkdir()
    shutil.copytree(ARTICLES_DIR, base / "articles")
    draft = base / "draft.jsonl"
    made = run_cli("annotate", NEW_ARTICLE, "--out", draft, "--models", models, "--articles",
                   base / "articles", timeout=LIMIT)
    assert made.code == 0, made.describe()
    reviewed = write_jsonl(base / "reviewed.jsonl", [{**r, "status": "reviewed"} for r in read_jsonl(draft)])
    exported = run_cli("export", reviewed, "--to", "doccano", "--out", base / "doccano.jsonl", timeout=LIMIT)
    assert exported.code == 0, exported.describe()
    # The previous versions that a failed write must leave as they were.
    for name in ("draft.jsonl", "doccano.jsonl", "tasks.json", "imported.jsonl"):
        (full / name).write_text(f"previous {name}\n", encoding="utf-8")
    shutil.copy(LABELS_FILE, full / "labels.jsonl")
    shutil.copytree(models, full / "models")
    shutil.copytree(corpus_models, base / "evaluated")
    (full / "reports").mkdir()
    (full / "reports" / "metrics.json").write_text("previous metrics\n", encoding="utf-8")
    cases: dict[str, tuple[list[Any], None]] = {
        "train": (["train", *set_args(CORPUS_ONLY), "--models", full / "models"], None),
        "eval": (["eval", *set_args(CORPUS_ONLY), "--models", base / "evaluated", "--out", full / "reports",
                  "--jobs", "1"], None),
        "annotate": (["annotate", NEW_ARTICLE, "--out", full / "draft.jsonl", "--models", models,
                      "--articles", base / "articles"], None),
        "accept": (["accept", reviewed, "--labels", full / "labels.jsonl", "--articles", base / "articles"],
                   None),
        "export": (["export", reviewed, "--to", "doccano", "--out", full / "doccano.jsonl"], None),
        "export_ls": (["export", reviewed, "--to", "label-studio", "--out", full / "tasks.json"], None),
        "import": (["import", DATA / "tools" / "doccano" / "full_review.zip", "--from", "doccano",
                    "--out", full / "imported.jsonl"], None),
    }
    def files() -> dict[Path, bytes]:  # accept's lock file (empty, kept by design) is not a leftover
        return {p: p.read_bytes() for p in full.rglob("*") if p.is_file() and not p.name.endswith(".lock")}

    before = files()
    runs = run_many(cases, timeout=LIMIT, prelude=FULL_DISK, env={**ENV, "KT_FULL_DISK": str(full)})
    assert files() == before  # every previous file intact, nothing half-written, no temp file
    assert all(p.stat().st_size == 0 for p in full.rglob("*.lock"))
    manifest = "manifest.json"
    assert (base / "evaluated" / manifest).read_bytes() == (corpus_models / manifest).read_bytes()
    return full, runs


@pytest.mark.parametrize(("case", "target"), [
    ("train", "models"), ("eval", "reports/"), ("annotate", "draft.jsonl"), ("accept", "labels.jsonl"),
    ("export", "doccano.jsonl"), ("export_ls", "tasks.json"), ("import", "imported.jsonl")])
def test_a_full_disk_is_one_line_naming_the_path_and_leaves_everything_as_it_was(full_disk, case, target):
    full, runs = full_disk
    _one_line(runs[case], 1, f"{full / target}", f"cannot be written ({NO_SPACE})")
    assert _temps(full) == []


def test_tagging_into_a_full_disk_is_one_line(inputs, models):
    with open("/dev/full", "wb") as full:  # the kernel's own ENOSPC on every write
        done = subprocess.run([*cli_command(), "tag", inputs["good"], "--models", models], stdout=full,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT, env=ENV,
                              timeout=LIMIT, check=False)
    err = done.stderr.decode()
    assert done.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"stdout (/dev/full): cannot be written ({NO_SPACE})" in err


# --- interrupts: Ctrl-C and SIGTERM, one to four workers ---------------------------------------

@pytest.fixture(scope="module")
def long_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.txt"
    path.write_text(big_crlf_text(3_000_000), encoding="utf-8")
    return path


class _Tagging:
    """A tagging process whose output is read as it comes, like a real consumer reads it."""

    def __init__(self, jobs: int, long_input: Path, models: Path) -> None:
        command = [*cli_command(MORE_CPUS), "tag", str(long_input), "--models", str(models),
                   "--jobs", str(jobs)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, cwd=ROOT, env=ENV, start_new_session=True)
        self.out = bytearray()
        self.started = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read1(1 << 16), b""):  # type: ignore[union-attr]
            self.out += chunk
            self.started.set()


SIGNAL_CASES = [(jobs, how, to_group) for jobs in (1, 2, 4)
                for how, to_group in ((signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGTERM, True))]


def test_ctrl_c_and_sigterm_stop_cleanly_with_one_to_four_workers(long_input, models):
    """Each run gets its signal once its first rows are out (to the whole process group, like
    Ctrl-C in a terminal, or to the parent alone), mid-way through the tagging."""
    runs = {case: _Tagging(case[0], long_input, models) for case in SIGNAL_CASES}
    problems = []
    for (_, how, to_group), run in runs.items():
        assert run.started.wait(LIMIT), "no row within the time limit"
        (os.killpg if to_group else os.kill)(run.proc.pid, how)
    deadline = time.monotonic() + LIMIT
    for (jobs, how, to_group), run in runs.items():
        case = f"--jobs {jobs}, {how.name} to the {'group' if to_group else 'parent'}"
        try:
            run.proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait()
            problems.append(f"{case}: still running {LIMIT} s after the signal (a hang)")
            continue
        run.reader.join(LIMIT)
        err = run.proc.stderr.read().decode() if run.proc.stderr else ""
        expected = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}[how]
        if (run.proc.returncode, err.strip()) != expected:
            problems.append(f"{case}: exit {run.proc.returncode}, stderr {err[-300:]!r}")
        out = bytes(run.out)
        try:
            rows = [json.loads(line) for line in out.decode("utf-8").split("\n")[:-1]]
        except ValueError:
            rows = []
        if not rows or not out.endswith(b"\n"):
            problems.append(f"{case}: not whole rows only: ...{out[-80:]!r}")
        with contextlib.suppress(ProcessLookupError):  # nothing may be left in its process group
            time.sleep(0.2)
            os.killpg(run.proc.pid, 0)
            problems.append(f"{case}: a worker outlived the run")
            os.killpg(run.proc.pid, signal.SIGKILL)
    assert not problems, "\n".join(problems)


def test_a_worker_killed_mid_run_is_one_line_not_a_hang(long_input, models):
    run = _Tagging(2, long_input, models)
    assert run.started.wait(LIMIT), "no row within the time limit"
    children = Path(f"/proc/{run.proc.pid}/task/{run.proc.pid}/children").read_text().split()
    assert len(children) == 2
    os.kill(int(children[0]), signal.SIGKILL)  # what the out-of-memory killer does
    try:
        run.proc.wait(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(run.proc.pid, signal.SIGKILL)
        pytest.fail("still running after a worker was killed (a hang)")
    run.reader.join(LIMIT)
    err = run.proc.stderr.read().decode() if run.proc.stderr else ""
    assert run.proc.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "error: a tagging process was killed by SIGKILL; the rows written so far are complete" in err
    assert bytes(run.out).endswith(b"\n")


# --- nothing runs that was not checked ----------------------------------------------------------

def _use_pipelines(folder: Path) -> None:
    """Make the folder's baseline scored by its joblib pipelines (as char features would)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["models"]["baseline"]["scorer"] = "pipelines"
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_swapped_pickle_is_refused_by_tag_and_never_runs(models_copy, tmp_path, inputs):
    _use_pipelines(models_copy)
    marker = tmp_path / "ran"
    write_marker_pickle(models_copy / "topic.joblib", marker)
    run = run_cli("tag", inputs["good"], "--models", models_copy, timeout=LIMIT)
    _one_line(run, 1, f"{models_copy / 'topic.joblib'} does not match")
    assert not marker.exists() and run.out == ""


def test_a_pickle_swapped_after_loading_is_never_unpickled(models_copy, tmp_path):
    _use_pipelines(models_copy)
    tagger = load_tagger(models_copy)
    marker = tmp_path / "ran"
    for task in ("topic", "stance"):
        write_marker_pickle(models_copy / f"{task}.joblib", marker)
    assert tagger.tag("The ceasefire holds. Russia sent peacekeepers.")
    assert not marker.exists()


def test_tagging_with_the_numpy_export_never_unpickles(models_copy, tmp_path, inputs):
    marker = tmp_path / "ran"
    for task in ("topic", "stance"):
        write_marker_pickle(models_copy / f"{task}.joblib", marker)
    run = run_cli("tag", inputs["good"], "--models", models_copy, timeout=LIMIT)
    assert run.code == 0 and run.rows(), run.describe()
    assert not marker.exists()


# --- bad configs, manifests, options and API arguments: one line or a clear TypeError ---------

@pytest.mark.parametrize(("override", "key"), [
    ("classifier.C=.nan", "classifier.C"), ("features.word_ngram_range=[3, 1]", "features.word_ngram_range"),
    ("search.grid.classifier.C=[]", "search.grid.classifier.C"), ("features.max_df=.inf", "features.max_df")])
def test_a_bad_config_value_is_one_line_at_load(override, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")) as err:
        load_config(BASE_CONFIG, [override])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("change", [
    lambda d: d["models"]["baseline"].update(tasks=[]), lambda d: d["files"]["fast.npz"].update(sha256=7),
    lambda d: d.update(labels=None), lambda d: d["models"]["baseline"]["files"].update(fast="/etc/passwd")])
def test_a_malformed_manifest_is_one_line(models_copy, change):
    path = models_copy / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as err:
        artifacts.load(models_copy)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("options")


@pytest.fixture(scope="module")
def option_runs(inputs: dict[str, Path], models: Path, options: Path) -> dict[str, Run]:
    base = options
    (base / "afile").write_text("not a folder", encoding="utf-8")
    (base / "folder").mkdir()
    draft = shutil.copy(DATA / "tools" / "draft.jsonl", base / "draft.jsonl")
    m = ("--models", models)
    return run_many({
        "jobs_0": (["tag", inputs["good"], "--jobs", "0", *m], None),
        "jobs_negative": (["tag", inputs["good"], "--jobs", "-3", *m], None),
        "jobs_1000": (["tag", inputs["good"], "--jobs", "1000", *m], None),
        "audit_top": (["audit", "--top", "-1"], None),
        "eval_out_file": (["eval", "--models", models, "--out", base / "afile"], None),
        "export_out_folder": (["export", draft, "--to", "doccano", "--out", base / "folder"], None),
        "export_ls_out_folder": (["export", draft, "--to", "label-studio", "--out", base / "folder"], None),
        "min_df": (["train", "--set", "features.min_df=1000000", "--models", base / "models"], None),
        "nan": (["train", "--set", "classifier.C=.nan", "--models", base / "models"], None),
    }, timeout=LIMIT)


@pytest.mark.parametrize(("case", "code", "needle"), [
    ("jobs_0", 2, "--jobs must be at least 1"), ("jobs_negative", 2, "--jobs must be at least 1"),
    ("audit_top", 2, "--top must be 0 or more"), ("eval_out_file", 1, "afile: exists and is not a folder"),
    ("export_out_folder", 1, "folder: is a folder; give a file name"),
    ("export_ls_out_folder", 1, "folder: is a folder; give a file name"),
    ("min_df", 1, "cannot be fitted with these settings"), ("nan", 1, "classifier.C")])
def test_bad_options_are_one_line(option_runs, case, code, needle):
    _one_line(option_runs[case], code, needle)
    assert option_runs[case].out == ""


def test_bad_options_write_nothing(option_runs, options):
    assert sorted(p.name for p in options.iterdir()) == ["afile", "draft.jsonl", "folder"]
    assert list((options / "folder").iterdir()) == []


def test_jobs_above_the_cpu_count_are_capped_with_a_note(option_runs):
    run = option_runs["jobs_1000"]
    assert run.code == 0 and run.rows(), run.describe()
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("note: --jobs 1000 capped at")


@pytest.mark.parametrize(("call", "message"), [
    (lambda t: t.tag_many("one article as a string"), "list of strings"),
    (lambda t: t.tag(None), "as a str, got NoneType"), (lambda t: t.tag(b"bytes"), "as a str, got bytes")])
def test_wrong_api_arguments_are_a_clear_type_error(models, call, message):
    with pytest.raises(TypeError, match=message):
        call(load_tagger(models))


# --- two streams in two threads, each with its own model and workers ----------------------------

def test_two_threads_streaming_with_different_models_keep_their_own_scores(models, corpus_models):
    taggers = [load_tagger(models), load_tagger(corpus_models)]
    articles = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(ARTICLES_DIR.glob("*.txt"))] * 8
    expected = [[u for _, _, units, _ in stream(t, articles) for u in units] for t in taggers]
    assert expected[0] != expected[1]  # the two models score differently
    got: list[list[Any]] = [[], []]

    def run(k: int) -> None:
        for _ in range(3):
            got[k].append([u for _, _, units, _ in stream(taggers[k], articles, jobs=2) for u in units])

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIMIT)
        assert not thread.is_alive(), "a stream hung"
    assert got == [[expected[0]] * 3, [expected[1]] * 3]
