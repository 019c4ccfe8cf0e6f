"""Shared helpers for the tagging tests: run the real CLI, train real models once per session.

Not a conftest: the test modules import these functions and wrap them in their own fixtures.
Trained model folders are cached in this module, so each kind of model is trained once per
pytest session however many test modules ask for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
BASELINE_CONFIG = ROOT / "configs" / "baseline.yaml"
ENV = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}
FIELDS = ["article", "index", "start", "end", "text", "topic", "topic_score", "stance", "stance_score"]

_MODELS: dict[str, Path] = {}


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


def run_cli(*args: Any, stdin: bytes | None = None, cwd: Path = ROOT, timeout: float = 300) -> Run:
    """Run ``python -m karabakh_tagger.cli ARGS`` in a fresh process, like a user would."""
    argv = tuple(str(a) for a in args)
    done = subprocess.run([sys.executable, "-m", "karabakh_tagger.cli", *argv],
                          input=stdin if stdin is not None else b"", capture_output=True,
                          cwd=cwd, env=ENV, timeout=timeout, check=False)
    return Run(argv, done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))


def run_many(cases: dict[str, tuple[Sequence[Any], bytes | None]]) -> dict[str, Run]:
    """Run several independent CLI calls concurrently (each is mostly interpreter start-up)."""
    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(run_cli, *args, stdin=stdin)
                   for name, (args, stdin) in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def write_tiny_config(path: Path) -> Path:
    """configs/baseline.yaml with a one-point grid (and fewer random-split folds): trains in ~1 s."""
    config = yaml.safe_load(BASELINE_CONFIG.read_text(encoding="utf-8"))
    for task in ("topic", "stance"):
        config["search"]["grid"][task] = {"features": ["word"], "clf__C": [10.0],
                                          "clf__class_weight": ["balanced"]}
    config["evaluation"]["random_split_folds"] = 2
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _train(kind: str, factory: pytest.TempPathFactory) -> Path:
    if kind not in _MODELS:
        base = factory.mktemp(f"{kind}_models")
        config = write_tiny_config(base / "tiny.yaml") if kind == "tiny" else BASELINE_CONFIG
        run = run_cli("train", "--config", config, "--models", base / "models")
        assert run.code == 0, run.describe()
        _MODELS[kind] = base / "models"
    return _MODELS[kind]


def tiny_models_dir(factory: pytest.TempPathFactory) -> Path:
    """Models trained by ``karabakh-tagger train --config tiny.yaml`` into a temp folder, once."""
    return _train("tiny", factory)


def tiny_yaml_path(factory: pytest.TempPathFactory) -> Path:
    """The tiny config the tiny models were trained with."""
    return tiny_models_dir(factory).parent / "tiny.yaml"


def baseline_models_dir(factory: pytest.TempPathFactory) -> Path:
    """Models trained with the real configs/baseline.yaml into a temp folder, once."""
    return _train("baseline", factory)


def article_texts() -> dict[str, str]:
    """The corpus articles, byte for byte (newlines untouched), by stem."""
    return {p.stem: p.read_bytes().decode("utf-8") for p in sorted(ARTICLES.glob("*.txt"))}


def big_crlf_text(min_chars: int) -> str:
    """The corpus articles with CRLF line ends, repeated to at least ``min_chars`` characters."""
    one = "".join(text.replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n\r\n"
                  for text in article_texts().values())
    return one * (min_chars // len(one) + 1)
