"""Fit a model family: one pipeline per task, hyperparameters chosen inside the training rows.

The inner search is ``GridSearchCV(cv=LeaveOneArticleOrBatchOut())``: one inner fold per training
article and per training batch of composed sentences, scored by the pooled rule of
:mod:`karabakh_tagger.selection`. With a single fold or an empty grid the config's own values are
used. The pipelines predict class names (``joblib.load(path).predict`` returns "critical", not 1).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from karabakh_tagger.config import Config
from karabakh_tagger.data import LabelledData
from karabakh_tagger.encoder import WEIGHTS
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS
from karabakh_tagger.model import Family, describe_params, encoder_family, param_grid
from karabakh_tagger.model import baseline_classifier as model_classifier
from karabakh_tagger.selection import PooledRule, confusion_scoring
from karabakh_tagger.splits import HoldOneOut, LeaveOneArticleOrBatchOut


@dataclass(frozen=True)
class TrainedTask:
    """A fitted pipeline (string classes) with what chose its hyperparameters."""

    pipeline: Pipeline
    params: dict[str, Any]
    inner_score: float | None  # the chosen point's pooled inner-CV macro-F1; None without a search


@dataclass(frozen=True)
class TrainedFamily:
    """One model family trained on all rows: a pipeline per task, and what else its files need
    (``extra``: for the encoder, its ONNX graph, tokenizer, training embeddings and details)."""

    family: str
    tasks: dict[str, TrainedTask]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence scikit-learn's per-fold noise; small-class problems are reported by us instead."""
    with warnings.catch_warnings():
        for category in (UndefinedMetricWarning, ConvergenceWarning, UserWarning, RuntimeWarning):
            warnings.simplefilter("ignore", category)
        yield


@contextlib.contextmanager
def config_errors(source: str) -> Iterator[None]:
    """scikit-learn's refusal of a setting (e.g. a min_df that prunes every term) as one line."""
    try:
        yield
    except (ValueError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{source}: the model cannot be fitted with these settings ({first})") from None


def named(pipeline: Pipeline, names: tuple[str, ...]) -> Pipeline:
    """The pipeline with class names instead of indices, so a user's ``predict`` returns names."""
    clf = pipeline.steps[-1][1]
    clf.classes_ = np.asarray([names[int(c)] for c in clf.classes_], dtype=object)
    return pipeline


def fit_task(family: Family, task: str, x: Any, data: LabelledData, config: Config,
             rows: np.ndarray | None = None, inner: HoldOneOut | None = None) -> TrainedTask:
    """Fit the family on ``rows`` (default: all) with its classifier's hyperparameters searched.

    The featurizer is fitted once on the training rows (no labels involved) and the grid varies
    the classifier on those features, over inner folds of the same rows: one per training article
    and per training batch. ``x`` is ``family.features(data)``. The pipeline predicts class
    indices; :func:`train_family` names them.
    """
    rows = np.arange(len(data)) if rows is None else np.asarray(rows)
    sub = data.subset(rows)
    y, groups = sub.y[task], sub.groups()
    featurizer = family.featurizer(config)
    with quiet():
        features = featurizer.fit_transform(x[rows]) if featurizer is not None else x[rows]
    inner = inner or LeaveOneArticleOrBatchOut()
    grid = param_grid(config)
    folds = inner.folds(groups)
    if len(folds) < 2 or not grid:
        with quiet():
            return TrainedTask(family.pipeline(featurizer, family.classifier(config).fit(features, y)),
                               {}, None)
    n_classes = len(data.classes[task])
    rule = PooledRule(n_classes, [kind for kind, _ in folds], config.search.tie_tolerance)
    search = GridSearchCV(family.classifier(config), grid, scoring=confusion_scoring(n_classes),
                          cv=inner, refit=rule, n_jobs=1, error_score="raise")
    with quiet():
        search.fit(features, y, groups=groups)
    return TrainedTask(family.pipeline(featurizer, search.best_estimator_),
                       describe_params(search.best_params_), round(rule.best_score, 4))


def train_family(family: Family, data: LabelledData, config: Config, source: str) -> TrainedFamily:
    """One family on every row: a named pipeline per task."""
    started = time.perf_counter()
    x = family.features(data)
    tasks = {}
    with config_errors(source):
        for task in TASKS:
            fitted = fit_task(family, task, x, data, config)
            tasks[task] = TrainedTask(named(fitted.pipeline, data.classes[task]), fitted.params,
                                      fitted.inner_score)
    return TrainedFamily(family.name, tasks, round(time.perf_counter() - started, 2))


def quantization_agreement(full: np.ndarray, quantized: np.ndarray, data: LabelledData,
                           config: Config) -> dict[str, float]:
    """Per task, the share of held-out rows whose predicted label is the same with int8 embeddings
    as with fp32: heads fitted on fp32 embeddings of each fold's training rows (one fold per article
    and per batch, so every row is held out once), applied to both versions of its held-out rows."""
    out = {}
    groups = data.groups()
    for task in TASKS:
        same = total = 0
        for train, test in LeaveOneArticleOrBatchOut().split(full, None, groups):
            with quiet():
                clf = model_classifier(config).fit(full[train], data.y[task][train])
            same += int(np.sum(clf.predict(full[test]) == clf.predict(quantized[test])))
            total += len(test)
        out[task] = round(same / total, 4) if total else 1.0
    return out


def train_encoder(data: LabelledData, config: Config, source: str) -> TrainedFamily:
    """The encoder family: export the verified MiniLM weights to ONNX (int8 when it keeps the labels),
    embed every row with the graph that will be shipped, fit the heads like any family."""
    from karabakh_tagger.encoder import Embedder, export

    started = time.perf_counter()
    enc = config.encoder
    exported = export(enc.max_length, enc.quantize)
    embed = lambda onnx: Embedder(onnx, exported.tokenizer_json, enc.max_length,  # noqa: E731
                                  enc.batch_size).embed(list(data.texts))
    full = embed(exported.fp32)
    onnx, x, agreement = exported.fp32, full, None
    if exported.int8 is not None:
        quantized = embed(exported.int8)
        agreement = quantization_agreement(full, quantized, data, config)
        if min(agreement.values()) >= enc.min_agreement:
            onnx, x = exported.int8, quantized
    trained = train_family(encoder_family(x), data, config, source)
    details = {"weights_sha256": dict(WEIGHTS), "quantized": onnx is exported.int8,
               "int8_label_agreement": agreement, "min_agreement": enc.min_agreement,
               "max_length": enc.max_length, "batch_size": enc.batch_size}
    return replace(trained, seconds=round(time.perf_counter() - started, 2),
                   extra={"onnx": onnx, "tokenizer_json": exported.tokenizer_json, "embeddings": x,
                          "details": details})
