"""Fit one pipeline per task, with hyperparameters chosen by grouped CV on the training articles,
and save the artifacts atomically with their manifest and model card.

Splits are by article ("leave one article out"), and a row whose near-duplicate group also has
a row in the held-out article is dropped from that split's training side, so no sentence is ever
on both sides. Authored rows (article "authored") only ever train.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from karabakh_tagger import fastscore
from karabakh_tagger.config import Config
from karabakh_tagger.files import atomic_write, atomic_write_text, sha256_file
from karabakh_tagger.labels import TASKS
from karabakh_tagger.model import build_pipeline, describe_params, param_grid

AUTHORED = "authored"
Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TrainedTask:
    """A fitted pipeline with what chose it."""

    task: str
    pipeline: Pipeline
    params: dict[str, Any]
    cv_macro_f1: float


def article_splits(articles: Sequence[str], groups: Sequence[int],
                   indices: np.ndarray | None = None) -> list[Split]:
    """Leave-one-article-out splits over ``indices`` (default: all rows).

    Test rows are one article's; training rows are the other articles' minus any row that shares
    a near-duplicate group with a test row. Authored rows are never tested.
    """
    idx = np.arange(len(articles)) if indices is None else np.asarray(indices)
    art = np.asarray(articles, dtype=object)[idx]
    grp = np.asarray(groups)[idx]
    splits = []
    for held_out in sorted(set(art) - {AUTHORED}):
        test = art == held_out
        train = ~test & ~np.isin(grp, grp[test])
        splits.append((idx[train], idx[test]))
    return splits


def _relative(splits: list[Split], indices: np.ndarray) -> list[Split]:
    """Re-express splits of absolute row numbers as positions within ``indices``."""
    position = {row: i for i, row in enumerate(indices)}
    return [(np.array([position[r] for r in tr]), np.array([position[r] for r in te]))
            for tr, te in splits]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence scikit-learn's per-fold noise; small-class problems are reported by us instead."""
    with warnings.catch_warnings():
        for category in (UndefinedMetricWarning, ConvergenceWarning, UserWarning, RuntimeWarning):
            warnings.simplefilter("ignore", category)
        yield


def fit_task(task: str, texts: Sequence[str], y: np.ndarray, articles: Sequence[str],
             groups: Sequence[int], config: Config, indices: np.ndarray | None = None
             ) -> TrainedTask:
    """Grid-search the task's pipeline over leave-one-training-article-out CV, refit on all rows.

    ``indices`` restricts training to those rows (the outer training fold of nested CV).
    """
    idx = np.arange(len(texts)) if indices is None else np.asarray(indices)
    inner = _relative(article_splits(articles, groups, idx), idx)
    x = [texts[i] for i in idx]
    grid = param_grid(config, task)
    if len(inner) < 2 or not grid:
        pipeline = build_pipeline(config).fit(x, y[idx])
        return TrainedTask(task, pipeline, {}, float("nan"))
    search = GridSearchCV(build_pipeline(config), grid, scoring=config.search.scoring, cv=inner,
                          refit=True, n_jobs=1, error_score="raise")
    with quiet():
        search.fit(x, y[idx])
    return TrainedTask(task, search.best_estimator_, describe_params(search.best_params_),
                       float(search.best_score_))


def train_all(dataset: Any, config: Config) -> dict[str, TrainedTask]:
    """Fit the topic and the stance pipelines on every labelled row."""
    texts, articles, groups = dataset["text"], dataset["article"], dataset["group"]
    return {task: fit_task(task, texts, np.asarray(dataset[task]), articles, groups, config)
            for task in TASKS}


def label_names(dataset: Any, task: str) -> list[str]:
    """Class names of a task, in ClassLabel order (the pipelines predict their indices' names)."""
    return list(dataset.features[task].names)


def named_pipeline(trained: TrainedTask, names: list[str]) -> Pipeline:
    """The pipeline with string classes, so that a user's ``predict`` returns label names."""
    pipeline = trained.pipeline
    clf = pipeline.named_steps["clf"]
    clf.classes_ = np.asarray([names[int(c)] for c in clf.classes_], dtype=object)
    return pipeline


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries an artifact depends on."""
    out = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "joblib", "datasets", "karabakh-tagger"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def build_manifest(trained: dict[str, TrainedTask], dataset: Any, config: Config,
                   labels_path: Path, config_path: Path, artifacts: dict[str, str],
                   seconds: float) -> dict[str, Any]:
    """Everything needed to trust and reproduce the artifacts."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "artifacts": artifacts,
        "data": {"labels_file": str(labels_path), "labels_sha256": sha256_file(labels_path),
                 "rows": len(dataset), "articles": sorted(set(dataset["article"]) - {AUTHORED}),
                 "authored_rows": sum(a == AUTHORED for a in dataset["article"])},
        "config": {"file": str(config_path), "sha256": sha256_file(config_path),
                   "values": config.to_dict()},
        "labels": {task: label_names(dataset, task) for task in TASKS},
        "tasks": {task: {"params": t.params, "cv_macro_f1": round(t.cv_macro_f1, 4),
                         "cv": "leave-one-article-out (grouped, on all labelled articles)"}
                  for task, t in trained.items()},
        "train_seconds": round(seconds, 2),
    }


def save_models(trained: dict[str, TrainedTask], dataset: Any, config: Config, out_dir: Path,
                labels_path: Path, config_path: Path, seconds: float) -> dict[str, Any]:
    """Write ``<task>.joblib``, ``manifest.json`` and ``README.md`` to ``out_dir`` atomically."""
    from karabakh_tagger.card import model_card

    artifacts = {}
    for task, t in trained.items():
        path = out_dir / f"{task}.joblib"
        pipeline = named_pipeline(t, label_names(dataset, task))
        atomic_write(path, lambda tmp, p=pipeline: joblib.dump(p, tmp, compress=3))
        artifacts[task] = {"file": path.name, "sha256": sha256_file(path),
                           "bytes": path.stat().st_size}
    arrays = fastscore.export({task: t.pipeline for task, t in trained.items()})
    if arrays is not None:  # the numpy export that lets tagging skip scikit-learn
        path = out_dir / "fast.npz"
        atomic_write(path, lambda tmp: fastscore.save(arrays, tmp))
        artifacts["fast"] = {"file": path.name, "sha256": sha256_file(path),
                             "bytes": path.stat().st_size}
    else:
        (out_dir / "fast.npz").unlink(missing_ok=True)
    manifest = build_manifest(trained, dataset, config, labels_path, config_path, artifacts,
                              seconds)
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    atomic_write_text(out_dir / "README.md", model_card(manifest))
    return manifest


def run_training(dataset: Any, config: Config, out_dir: Path, labels_path: Path,
                 config_path: Path) -> dict[str, Any]:
    """Train both tasks and save them; returns the manifest."""
    started = time.perf_counter()
    trained = train_all(dataset, config)
    return save_models(trained, dataset, config, out_dir, labels_path, config_path,
                       time.perf_counter() - started)


def summary(manifest: dict[str, Any]) -> str:
    """The short text ``make train`` prints."""
    lines = [f"trained on {manifest['data']['rows']} rows -> "
             f"{', '.join(a['file'] for a in manifest['artifacts'].values())} "
             f"({manifest['train_seconds']} s)"]
    for task, info in manifest["tasks"].items():
        params = ", ".join(f"{k}={v}" for k, v in info["params"].items())
        lines.append(f"  {task:<7} CV macro-F1 {info['cv_macro_f1']:.3f}  ({params})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: karabakh-tagger train")
