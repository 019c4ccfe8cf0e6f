"""The one test harness: the repository root, the offline environment, the real CLI in a subprocess,
one tiny config derived from the base config, and trained model folders built once per session.

Everything runs offline: the Hugging Face offline switches are set here, before ``datasets`` can be
imported, and its cache points at a throw-away folder, so no test can touch the network or the
user's cache. Model folders are trained once per session through the real ``karabakh-tagger train``
and shared by every module that needs them.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_HF_CACHE = Path(tempfile.mkdtemp(prefix="kt-tests-hf-cache-"))
atexit.register(shutil.rmtree, _HF_CACHE, ignore_errors=True)  # also when no test runs
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(_HF_CACHE),
           "PYTHONHASHSEED": "0"}
os.environ.update(OFFLINE)

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    # A shell starts background jobs (`make test &`, nohup) with SIGINT ignored, and every CLI child
    # would inherit that and ignore the Ctrl-C the signal tests send. A Python handler here is reset
    # to the default at exec, so children start as they would from a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ARTICLES_DIR = ROOT / "data" / "articles"
LABELS_FILE = ROOT / "labels" / "sentences.jsonl"
AUTHORED_DIR = ROOT / "labels" / "authored"
BASE_CONFIG = ROOT / "configs" / "baseline.yaml"
ENV = {**os.environ, **OFFLINE}
FIELDS = ["article", "index", "start", "end", "text", "topic", "topic_score", "stance", "stance_score"]

ENCODER_TINY = ("search.grid.classifier.C=[1.0, 10.0]", "search.grid.classifier.class_weight=[balanced]",
                "evaluation.random_split_folds=2", "evaluation.learning_curve_rows=[0, 40]",
                "finetune.epochs=1", "finetune.max_length=16", "finetune.batch_size=16")
"""The tiny config: the base config with a two-point grid, two random folds, a short curve, and a
one-epoch fine-tuning of short sequences."""
TINY = (*ENCODER_TINY, "encoder.train=false")
"""The tiny config without the encoder family (most tests need only the baseline)."""
SMALL_BATCH_ROWS = 45
"""Rows per batch of the small composed folder (three batches) that the tiny models train on."""


@dataclass(frozen=True)
class Run:
    """What one CLI process did. ``out`` and ``err`` are decoded as is (no newline translation)."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.split("\n") if line]

    def rows(self) -> list[dict[str, Any]]:
        """The JSON lines of stdout (split on "\\n" only: a unit may hold other line separators)."""
        return [json.loads(line) for line in self.out.split("\n") if line]

    def describe(self) -> str:
        return f"karabakh-tagger {' '.join(self.args)} -> {self.code}\nstderr:\n{self.err}"


def cli_command(prelude: str | None = None) -> list[str]:
    """The command line of the CLI: ``python -m karabakh_tagger.cli``, or, with ``prelude``, the same
    entry point (``cli.main``) after that Python code has run in the process (to inject a fault,
    or to pretend the machine has more CPUs)."""
    if prelude is None:
        return [sys.executable, "-m", "karabakh_tagger.cli"]
    return [sys.executable, "-c", f"{prelude}\nimport sys\nfrom karabakh_tagger.cli import main\n"
                                  "sys.exit(main(sys.argv[1:]))"]


_MARKER_PICKLE = """
import os, pickle, sys
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
open(sys.argv[1], "wb").write(pickle.dumps(Evil()))
"""


def write_marker_pickle(path: Path, marker: Path) -> None:
    """Overwrite ``path`` with a pickle that creates ``marker`` when it is unpickled: a test that
    the file is refused before it runs checks that ``marker`` never appears."""
    subprocess.run([sys.executable, "-c", _MARKER_PICKLE, str(path), str(marker)], check=True, timeout=60)


def run_cli(*args: Any, stdin: bytes | Path | None = None, cwd: Path = ROOT, timeout: float = 300,
            env: dict[str, str] | None = None, prelude: str | None = None) -> Run:
    """Run ``python -m karabakh_tagger.cli ARGS`` in a fresh process, like a user would.

    ``stdin`` is bytes, or a path to read stdin from (a device such as /dev/zero, a big file).
    """
    argv = tuple(str(a) for a in args)
    command = [*cli_command(prelude), *argv]
    if isinstance(stdin, Path):
        with stdin.open("rb") as handle:
            done = subprocess.run(command, stdin=handle, capture_output=True, cwd=cwd, env=env or ENV,
                                  timeout=timeout, check=False)
    else:
        done = subprocess.run(command, input=stdin if stdin is not None else b"", capture_output=True,
                              cwd=cwd, env=env or ENV, timeout=timeout, check=False)
    return Run(argv, done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))


def run_many(cases: dict[str, tuple[Sequence[Any], bytes | Path | None]], **options: Any) -> dict[str, Run]:
    """Run several independent CLI calls concurrently (each is mostly interpreter start-up);
    ``options`` (timeout, env, prelude) go to every :func:`run_cli`."""
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {name: pool.submit(run_cli, *args, stdin=stdin, **options)
                   for name, (args, stdin) in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def set_args(overrides: Sequence[str]) -> list[str]:
    """``--set`` flags for the CLI."""
    return [part for o in overrides for part in ("--set", o)]


def article_texts() -> dict[str, str]:
    """The corpus articles, byte for byte (newlines untouched), by stem."""
    return {p.stem: p.read_bytes().decode("utf-8") for p in sorted(ARTICLES_DIR.glob("*.txt"))}


def big_crlf_text(min_chars: int) -> str:
    """The corpus articles with CRLF line ends, repeated to at least ``min_chars`` characters."""
    one = "".join(text.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n\r\n"
                  for text in article_texts().values())
    return one * (min_chars // len(one) + 1)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_authored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real composed batches cut to SMALL_BATCH_ROWS seeded rows each: fast to train on."""
    folder = tmp_path_factory.mktemp("authored") / "authored"
    folder.mkdir()
    batches = sorted(p for p in AUTHORED_DIR.glob("*.jsonl"))
    rng = random.Random(7)
    for path in [batches[0], *rng.sample(batches[1:], min(2, len(batches) - 1))]:
        rows = read_jsonl(path)
        write_jsonl(folder / path.name, rng.sample(rows, min(SMALL_BATCH_ROWS, len(rows))))
    return folder


@pytest.fixture(scope="session")
def tiny_config() -> Any:
    """The base config with the TINY overrides (a LoadedConfig)."""
    from karabakh_tagger.config import load_config

    return load_config(BASE_CONFIG, TINY)


@pytest.fixture(scope="session")
def data(small_authored: Path) -> Any:
    """The real corpus units and the small composed folder, as LabelledData."""
    from karabakh_tagger.data import load_data

    return load_data(LABELS_FILE, small_authored)[0]


@pytest.fixture(scope="session")
def corpus_data() -> Any:
    """The 109 real corpus units alone."""
    from karabakh_tagger.data import load_data

    return load_data(LABELS_FILE)[0]


def _train(folder: Path, *args: Any) -> Path:
    run = run_cli("train", "--models", folder, *args)
    assert run.code == 0, run.describe()
    return folder


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory, small_authored: Path) -> Path:
    """Tiny models, trained once by the real CLI: ``train --set ... --authored SMALL``."""
    return _train(tmp_path_factory.mktemp("tiny") / "models", *set_args(TINY), "--authored", small_authored)


@pytest.fixture(scope="session")
def baseline_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline trained by the real CLI with configs/baseline.yaml on all the labels, once."""
    return _train(tmp_path_factory.mktemp("baseline") / "models", "--set", "encoder.train=false")


@pytest.fixture(scope="session")
def encoder_models(tmp_path_factory: pytest.TempPathFactory, small_authored: Path) -> Path:
    """Tiny models with the encoder family, trained once by the real CLI (needs the encoder extra)."""
    pytest.importorskip("onnxruntime", reason="the encoder extra is not installed")
    pytest.importorskip("torch", reason="the encoder extra is not installed")
    return _train(tmp_path_factory.mktemp("encoder") / "models", *set_args(ENCODER_TINY),
                  "--authored", small_authored)


@pytest.fixture
def models_copy(models: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder, for tests that damage it."""
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    return copy
