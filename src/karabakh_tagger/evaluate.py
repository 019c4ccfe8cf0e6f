"""Honest evaluation: nested cross-validation with articles held out, beside dummy baselines.

Outer loop: leave one article out. Inner loop (inside ``train.fit_task``): leave one of the
remaining training articles out, to choose hyperparameters. A sentence copied into several
articles never sits on both sides of a split (``train.article_splits``). Every score reported
here is computed on held-out corpus articles only; nothing is tuned on these numbers.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import KFold
from tqdm import tqdm

from karabakh_tagger.config import Config
from karabakh_tagger.labels import TASKS
from karabakh_tagger.model import build_pipeline
from karabakh_tagger.train import (
    AUTHORED,
    Split,
    TrainedTask,
    article_splits,
    fit_task,
    quiet,
)

Warn = Callable[[str], None]


@dataclass
class CVRun:
    """Out-of-fold predictions of one method over a set of folds."""

    n_classes: int
    y_true: list[int] = field(default_factory=list)
    y_pred: list[int] = field(default_factory=list)
    proba: list[np.ndarray] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    folds: list[dict[str, Any]] = field(default_factory=list)


def _full_proba(model: Any, x: list[str], n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class, zero for classes the fold never saw."""
    out = np.zeros((len(x), n_classes))
    out[:, model.classes_.astype(int)] = model.predict_proba(x)
    return out


def _score(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    return {"macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
            "accuracy": round(float(accuracy_score(y_true, y_pred)), 4)}


def _record(run: CVRun, name: str, test: np.ndarray, y: np.ndarray, model: Any, x: list[str],
            n_train: int, params: dict[str, Any] | None = None) -> None:
    proba = _full_proba(model, x, run.n_classes)
    pred = proba.argmax(axis=1)
    run.y_true += y[test].tolist()
    run.y_pred += pred.tolist()
    run.proba += list(proba)
    run.rows += test.tolist()
    fold = {"held_out": name, "n_train": n_train, "n_test": len(test), **_score(y[test], pred)}
    if params is not None:
        fold["params"] = params
    run.folds.append(fold)


def _warn_small(task: str, names: list[str], y: np.ndarray, train: np.ndarray, test: np.ndarray,
                held_out: str, warn: Warn) -> None:
    """Warn when a test class has fewer than two training examples in this fold."""
    counts = np.bincount(y[train], minlength=len(names))
    for c in sorted(set(y[test].tolist())):
        if counts[c] < 2:
            warn(f"warning: {task}: fold {held_out}: class {names[c]!r} has {counts[c]} training "
                 "row(s); its held-out rows can hardly be predicted")


def nested_cv(task: str, data: dict[str, Any], config: Config, splits: list[Split],
              names: list[str], warn: Warn) -> CVRun:
    """Outer folds as given; hyperparameters chosen by ``fit_task`` inside each training fold."""
    y, texts = data[task], data["text"]
    run = CVRun(len(names))
    for train, test in tqdm(splits, desc=f"{task} nested CV", unit="fold", file=sys.stderr,
                            disable=None, leave=False):
        held_out = data["article"][test[0]]
        _warn_small(task, names, y, train, test, held_out, warn)
        trained: TrainedTask = fit_task(task, texts, y, data["article"], data["group"], config,
                                        indices=train)
        _record(run, held_out, test, y, trained.pipeline, [texts[i] for i in test], len(train),
                trained.params)
    return run


def dummy_cv(task: str, data: dict[str, Any], splits: list[Split], strategy: str,
             seed: int, n_classes: int) -> CVRun:
    """A DummyClassifier on the same folds: the floor the model must clear."""
    y, texts = data[task], data["text"]
    run = CVRun(n_classes)
    for train, test in splits:
        model = DummyClassifier(strategy=strategy, random_state=seed)
        model.fit([texts[i] for i in train], y[train])
        _record(run, data["article"][test[0]], test, y, model, [texts[i] for i in test], len(train))
    return run


def random_split_cv(task: str, data: dict[str, Any], config: Config, n_classes: int) -> CVRun:
    """The same nested search under shuffled random folds, ignoring articles: what leakage buys.

    Every row is its own group here, and the inner search uses 4 random folds too.
    """
    corpus = np.flatnonzero(data["article"] != AUTHORED)
    authored = np.flatnonzero(data["article"] == AUTHORED)
    folds = KFold(config.evaluation.random_split_folds, shuffle=True, random_state=config.seed)
    pseudo_groups = np.arange(len(data["text"]))
    y, texts = data[task], data["text"]
    run = CVRun(n_classes)
    for k, (tr, te) in enumerate(folds.split(corpus)):
        train, test = np.concatenate([corpus[tr], authored]), corpus[te]
        inner_articles = _random_inner(train, config)
        trained = fit_task(task, texts, y, inner_articles, pseudo_groups, config, indices=train)
        _record(run, f"random fold {k + 1}", test, y, trained.pipeline,
                [texts[i] for i in test], len(train), trained.params)
    return run


def _random_inner(train: np.ndarray, config: Config) -> np.ndarray:
    """Assign training rows to 4 random pseudo-articles, so the inner search is a random 4-fold."""
    rng = np.random.default_rng(config.seed)
    labels = np.empty(int(train.max()) + 1, dtype=object)
    labels[:] = AUTHORED
    labels[train] = [f"random{k}" for k in rng.integers(0, 4, size=len(train))]
    return labels


def learning_curve(task: str, data: dict[str, Any], config: Config) -> list[dict[str, Any]]:
    """Macro-F1 on each held-out article against the number of training articles (1 to n-1).

    Hyperparameters stay at the config's defaults (no search), so the curve shows data, not tuning.
    Every combination of training articles is run; the mean and spread are reported.
    """
    articles = sorted(set(data["article"]) - {AUTHORED})
    y, texts, art = data[task], data["text"], data["article"]
    points = []
    for n in range(1, len(articles)):
        scores = []
        for held_out in articles:
            test = np.flatnonzero(art == held_out)
            others = [a for a in articles if a != held_out]
            for chosen in itertools.combinations(others, n):
                train = np.flatnonzero(np.isin(art, [*chosen, AUTHORED]))
                train = train[~np.isin(data["group"][train], data["group"][test])]
                if len(set(y[train].tolist())) < 2:
                    continue
                model = build_pipeline(config).fit([texts[i] for i in train], y[train])
                scores.append(_score(y[test], model.predict([texts[i] for i in test]))["macro_f1"])
        points.append({"n_articles": n, "macro_f1_mean": round(float(np.mean(scores)), 4),
                       "macro_f1_std": round(float(np.std(scores)), 4), "runs": len(scores)})
    return points


def calibration(run: CVRun, bins: int = 5) -> dict[str, Any]:
    """Multiclass Brier score and a reliability table of top-class confidence against accuracy."""
    proba = np.array(run.proba)
    truth = np.eye(run.n_classes)[run.y_true]
    brier = float(np.mean(np.sum((proba - truth) ** 2, axis=1)))
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.array(run.y_true)
    table = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            table.append({"from": round(float(lo), 2), "to": round(float(hi), 2),
                          "count": int(inside.sum()),
                          "mean_confidence": round(float(confidence[inside].mean()), 4),
                          "accuracy": round(float(correct[inside].mean()), 4)})
    return {"brier": round(brier, 4), "bins": table}


def pooled_metrics(run: CVRun, names: list[str]) -> dict[str, Any]:
    """Pooled out-of-fold scores: macro-F1 over the classes present in the gold labels."""
    present = sorted(set(run.y_true))
    p, r, f, s = precision_recall_fscore_support(run.y_true, run.y_pred,
                                                 labels=range(len(names)), zero_division=0)
    folds = [fold["macro_f1"] for fold in run.folds]
    return {
        "macro_f1": round(float(f1_score(run.y_true, run.y_pred, labels=present,
                                         average="macro", zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(run.y_true, run.y_pred)), 4),
        "per_class": {names[c]: {"precision": round(float(p[c]), 4), "recall": round(float(r[c]), 4),
                                 "f1": round(float(f[c]), 4), "support": int(s[c])}
                      for c in range(len(names))},
        "folds": run.folds,
        "folds_mean": round(float(np.mean(folds)), 4),
        "folds_std": round(float(np.std(folds)), 4),
        "confusion": {"labels": names,
                      "matrix": confusion_matrix(run.y_true, run.y_pred,
                                                 labels=range(len(names))).tolist()},
    }


def f_avg(metrics: dict[str, Any]) -> float:
    """SemEval-2016 stance score: the mean F1 of the two non-neutral classes."""
    per = metrics["per_class"]
    return round((per["supportive"]["f1"] + per["critical"]["f1"]) / 2, 4)


def top_ngrams(pipeline: Any, k: int = 10) -> dict[str, list[str]]:
    """The k features with the largest weight for each class of a fitted TF-IDF + LR pipeline."""
    vectorizer, clf = pipeline.named_steps["tfidf"], pipeline.named_steps["clf"]
    if not hasattr(vectorizer, "get_feature_names_out"):
        return {}
    features = vectorizer.get_feature_names_out()
    coef = clf.coef_
    if coef.shape[0] == 1:  # binary LR stores one row: the positive class's weights
        coef = np.vstack([-coef[0], coef[0]])
    return {str(name): [str(features[j]) for j in np.argsort(coef[i])[::-1][:k]]
            for i, name in enumerate(clf.classes_)}


def evaluate_task(task: str, data: dict[str, Any], config: Config, names: list[str],
                  warn: Warn, full: bool = True) -> tuple[dict[str, Any], CVRun]:
    """Every number of the report for one task; also returns the nested-CV run (for the audit).

    ``full=False`` skips the random split and the learning curve (for side-by-side variants).
    """
    splits = article_splits(data["article"], data["group"])
    with quiet():
        run = nested_cv(task, data, config, splits, names, warn)
        result = pooled_metrics(run, names)
        base_runs = {strategy: dummy_cv(task, data, splits, strategy, config.seed, len(names))
                     for strategy in ("most_frequent", "stratified")}
        if full:
            random_run = random_split_cv(task, data, config, len(names))
            result["random_split"] = {
                **{k: v for k, v in pooled_metrics(random_run, names).items()
                   if k in ("macro_f1", "accuracy", "folds_mean", "folds_std")},
                "folds": random_run.folds}
            result["learning_curve"] = learning_curve(task, data, config)
    result["calibration"] = calibration(run)
    result["baselines"] = {}
    for strategy, base_run in base_runs.items():
        base = pooled_metrics(base_run, names)
        result["baselines"][strategy] = {k: base[k] for k in ("macro_f1", "accuracy")}
        if task == "stance":
            result["baselines"][strategy]["f_avg"] = f_avg(base)
    if task == "stance":
        result["f_avg"] = f_avg(result)
    result["small_classes"] = [n for n, v in result["per_class"].items() if v["support"] < 10]
    return result, run


def as_arrays(dataset: Any) -> dict[str, Any]:
    """Columns of the dataset as numpy arrays (object arrays for strings)."""
    out: dict[str, Any] = {"text": list(dataset["text"])}
    out["article"] = np.asarray(dataset["article"], dtype=object)
    out["id"] = np.asarray(dataset["id"], dtype=object)
    out["group"] = np.asarray(dataset["group"])
    for task in TASKS:
        out[task] = np.asarray(dataset[task])
    return out


def evaluate(dataset: Any, config: Config, final: dict[str, Any] | None = None,
             warn: Warn = lambda m: print(m, file=sys.stderr), full: bool = True
             ) -> tuple[dict[str, Any], dict[str, CVRun]]:
    """The metrics of both tasks, in the shape of ``reports/metrics.json``.

    ``final`` maps a task to the trained pipeline, whose most weighted n-grams are reported.
    """
    data = as_arrays(dataset)
    metrics: dict[str, Any] = {"cv": "leave-one-article-out", "inner_cv": "leave-one-article-out "
                               "within the training articles", "config": config.to_dict(),
                               "rows": int((data["article"] != AUTHORED).sum()),
                               "authored_training_rows": int((data["article"] == AUTHORED).sum())}
    runs = {}
    for task in TASKS:
        names = list(dataset.features[task].names)
        metrics[task], runs[task] = evaluate_task(task, data, config, names, warn, full)
        if final and task in final:
            metrics[task]["top_ngrams"] = top_ngrams(final[task])
    return metrics, runs


def oof_rows(dataset: Any, runs: dict[str, CVRun]) -> list[dict[str, Any]]:
    """One row per corpus unit: gold label and nested-CV out-of-fold probabilities per task."""
    ids = dataset["id"]
    rows: dict[int, dict[str, Any]] = {}
    for task, run in runs.items():
        names = list(dataset.features[task].names)
        for row, gold, proba in zip(run.rows, run.y_true, run.proba, strict=True):
            out = rows.setdefault(row, {"id": ids[row], "text": dataset[row]["text"]})
            out[task] = {"gold": names[gold], "predicted": names[int(np.argmax(proba))],
                         "proba": {n: round(float(p), 4) for n, p in zip(names, proba, strict=True)}}
    return [rows[r] for r in sorted(rows)]


def authored_effect(with_authored: dict[str, Any], without: dict[str, Any]) -> dict[str, Any]:
    """Side-by-side nested-CV scores (on the real articles only) with and without authored rows."""
    def brief(metrics: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"authored_training_rows": metrics["authored_training_rows"]}
        for task in TASKS:
            m = metrics[task]
            out[task] = {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
                         "per_class_f1": {n: v["f1"] for n, v in m["per_class"].items()}}
            if "f_avg" in m:
                out[task]["f_avg"] = m["f_avg"]
        return out
    return {"without": brief(without), "with": brief(with_authored)}
