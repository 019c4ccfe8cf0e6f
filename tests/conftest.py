"""Shared fixtures: the real corpus and labels, a tiny fast config, and the real CLI in a subprocess.

Everything runs offline: the Hugging Face offline switches are set before ``datasets`` can be
imported, and its cache points at a throw-away folder, so no test can touch the network or the
user's cache.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

_HF_CACHE = Path(tempfile.mkdtemp(prefix="kt-tests-hf-cache-"))
atexit.register(shutil.rmtree, _HF_CACHE, ignore_errors=True)  # also when no test runs
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_CACHE"] = str(_HF_CACHE)

ROOT = Path(__file__).resolve().parents[1]
ARTICLES_DIR = ROOT / "data" / "articles"
LABELS_FILE = ROOT / "labels" / "sentences.jsonl"
BASELINE_CONFIG = ROOT / "configs" / "baseline.yaml"
CLI_ENV = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(_HF_CACHE), "PYTHONHASHSEED": "0"}

TINY_YAML = """\
seed: 13
features:
  kind: word
  word_ngram_range: [1, 2]
classifier:
  C: 10.0
  class_weight: balanced
  solver: newton-cg
  max_iter: 2000
search:
  scoring: f1_macro
  grid:
    topic:
      clf__C: [1.0, 10.0]
    stance:
      clf__C: [1.0, 10.0]
evaluation:
  random_split_folds: 5
use_authored: false
"""
TINY_GRID_C = [1.0, 10.0]


@pytest.fixture(scope="session")
def hf_cache() -> Path:
    """The temporary HF_DATASETS_CACHE of this session (removed when the session's process exits)."""
    return _HF_CACHE


@pytest.fixture(scope="session")
def articles() -> dict[str, str]:
    from karabakh_tagger.corpus import load_articles

    return load_articles(ARTICLES_DIR)


@pytest.fixture(scope="session")
def _label_lines() -> tuple[str, ...]:
    return tuple(LABELS_FILE.read_text(encoding="utf-8").splitlines())


@pytest.fixture
def label_lines(_label_lines: tuple[str, ...]) -> list[str]:
    """The lines of labels/sentences.jsonl (a fresh list: tests may modify it)."""
    return list(_label_lines)


@pytest.fixture
def write_labels(tmp_path: Path) -> Callable[..., Path]:
    """Write label lines to a file in tmp_path (one per line, final newline) and return its path."""

    def write(lines: Sequence[str], name: str = "labels.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def tiny_config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(TINY_YAML, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_config(tiny_config_path: Path) -> Any:
    """A Config with a two-point grid per task (clf__C in 1, 10): trains in well under a second."""
    from karabakh_tagger.config import load_config

    return load_config(tiny_config_path)


@pytest.fixture(scope="session")
def dataset() -> Any:
    """The real labels as a datasets.Dataset (109 rows)."""
    from karabakh_tagger.data import load_labels

    return load_labels(LABELS_FILE)


def _run_cli(*args: Any, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "karabakh_tagger.cli", *map(str, args)],
                          cwd=cwd, env=CLI_ENV, capture_output=True, text=True, encoding="utf-8",
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m karabakh_tagger.cli ARGS`` in a fresh, offline process (cwd: repo root)."""
    return _run_cli
