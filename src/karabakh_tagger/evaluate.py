"""Honest evaluation: nested cross-validation with articles (and composed batches) held out, beside
dummy baselines, a leaky random split, a learning curve over the composed rows, and calibration.

Two protocols, both nested (the inner search of ``train.fit_task`` runs inside each outer training
fold only):

* leave-one-article-out (``LeaveOneArticleOut``), scored on the real article units: the headline;
* leave-one-batch-out (``LeaveOneBatchOut``), scored on each held-out batch of composed sentences,
  trained on the real articles and the other batches. It scores composed text, not news.

Every estimate comes out of one loop, :func:`out_of_fold`, whatever is being fitted (the nested
search, a dummy, a default pipeline on a subsample). Nothing is tuned on these numbers.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from tqdm import tqdm

from karabakh_tagger.artifacts import Headline
from karabakh_tagger.config import Config
from karabakh_tagger.data import LabelledData
from karabakh_tagger.labels import TASKS
from karabakh_tagger.model import Family
from karabakh_tagger.results import (
    BatchSummary,
    Brief,
    Calibration,
    CalibrationBin,
    ClassScores,
    CurvePoint,
    DataSummary,
    FamilyResult,
    Fold,
    Metrics,
    RuleRow,
    Scores,
    TaskResult,
)
from karabakh_tagger.selection import FamilyScore, recommend, task_winner
from karabakh_tagger.splits import HoldOneOut, LeaveOneArticleOut, LeaveOneBatchOut
from karabakh_tagger.train import fit_task, quiet

Warn = Callable[[str], None]
Fit = Callable[[np.ndarray], tuple[Any, dict[str, Any]]]
"""Fits a model on the given training rows; returns it (int classes) and the params it chose."""


@dataclass
class OOF:
    """Out-of-fold predictions of one method over the folds of one splitter."""

    n_classes: int
    rows: list[int] = field(default_factory=list)
    y_true: list[int] = field(default_factory=list)
    proba: list[np.ndarray] = field(default_factory=list)
    folds: list[Fold] = field(default_factory=list)

    @property
    def y_pred(self) -> list[int]:
        return [int(np.argmax(p)) for p in self.proba]


def _full_proba(model: Any, x: Any, n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class, zero for classes the fold never saw."""
    out = np.zeros((len(x), n_classes))
    out[:, np.asarray(model.classes_).astype(int)] = model.predict_proba(x)
    return out


def _fit_quietly(fit: Fit, train: np.ndarray) -> tuple[Any, dict[str, Any]]:
    with quiet():
        return fit(train)


def out_of_fold(fit: Fit, x: Any, data: LabelledData, task: str, splitter: HoldOneOut,
                desc: str | None = None, jobs: int = 1) -> OOF:
    """THE out-of-fold loop: fit on each training fold, predict its held-out rows.

    Folds are fitted on ``jobs`` processes (joblib); the result does not depend on ``jobs``.
    """
    from joblib import Parallel, delayed

    y = data.y[task]
    run = OOF(len(data.classes[task]))
    splits = list(splitter.split(x, y, data.groups()))
    names = [name for _, name in splitter.folds(data.groups())]
    fitted = Parallel(n_jobs=min(jobs, len(splits)) or 1, return_as="generator")(
        delayed(_fit_quietly)(fit, train) for train, _ in splits)
    bar = tqdm(fitted, total=len(splits), desc=desc, unit="fold", file=sys.stderr,
               disable=None if desc else True, leave=False)
    for (model, params), (train, test), name in zip(bar, splits, names, strict=True):
        proba = _full_proba(model, x[test], run.n_classes)
        pred = proba.argmax(axis=1)
        run.rows += test.tolist()
        run.y_true += y[test].tolist()
        run.proba += list(proba)
        run.folds.append(Fold(name, len(train), len(test), _macro(y[test], pred),
                              round(float(accuracy_score(y[test], pred)), 4), params))
    return run


def _macro(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    return round(float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro",
                                zero_division=0)), 4)


def f_avg(per_class: dict[str, ClassScores]) -> float | None:
    """SemEval-2016 stance score: the mean F1 of the two non-neutral classes (stance only)."""
    if "supportive" not in per_class:
        return None
    return round((per_class["supportive"].f1 + per_class["critical"].f1) / 2, 4)


def scores(run: OOF, names: Sequence[str]) -> Scores:
    """Pooled out-of-fold scores: macro-F1 over the classes present in the gold labels."""
    labels = range(len(names))
    p, r, f, s = precision_recall_fscore_support(run.y_true, run.y_pred, labels=labels, zero_division=0)
    per_class = {names[c]: ClassScores(round(float(p[c]), 4), round(float(r[c]), 4),
                                       round(float(f[c]), 4), int(s[c])) for c in labels}
    fold_f1 = [fold.macro_f1 for fold in run.folds]
    return Scores(
        macro_f1=_macro(run.y_true, run.y_pred),
        accuracy=round(float(accuracy_score(run.y_true, run.y_pred)), 4),
        f_avg=f_avg(per_class), per_class=per_class, folds=tuple(run.folds),
        folds_mean=round(float(np.mean(fold_f1)), 4), folds_std=round(float(np.std(fold_f1)), 4),
        confusion=tuple(tuple(int(v) for v in row)
                        for row in confusion_matrix(run.y_true, run.y_pred, labels=labels)))


def calibration(run: OOF, bins: int = 5) -> Calibration:
    """Multiclass Brier score and a reliability table of top-class confidence against accuracy."""
    proba = np.array(run.proba)
    truth = np.eye(run.n_classes)[run.y_true]
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.array(run.y_true)
    table = []
    for lo, hi in itertools.pairwise(np.linspace(0, 1, bins + 1)):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            table.append(CalibrationBin(round(float(lo), 2), round(float(hi), 2), int(inside.sum()),
                                        round(float(confidence[inside].mean()), 4),
                                        round(float(correct[inside].mean()), 4)))
    return Calibration(round(float(np.mean(np.sum((proba - truth) ** 2, axis=1))), 4), tuple(table))


# --- what gets fitted in each fold ---------------------------------------------------------------

def nested(family: Family, task: str, x: Any, data: LabelledData, config: Config,
           inner: HoldOneOut | None = None) -> Fit:
    """The full training procedure (search inside the fold, refit) on the fold's training rows."""
    def fit(train: np.ndarray) -> tuple[Any, dict[str, Any]]:
        trained = fit_task(family, task, x, data, config, rows=train, inner=inner)
        return trained.pipeline, trained.params
    return fit


def default(family: Family, task: str, x: Any, data: LabelledData, config: Config,
            composed_rows: int | None = None) -> Fit:
    """The config's own hyperparameters, no search; optionally with only ``composed_rows`` of the
    fold's composed training rows (a seeded sample)."""
    y = data.y[task]

    def fit(train: np.ndarray) -> tuple[Any, dict[str, Any]]:
        if composed_rows is not None:
            composed = train[~data.corpus[train]]
            rng = np.random.default_rng(config.seed + len(train))
            keep = rng.permutation(composed)[:composed_rows]
            train = np.sort(np.concatenate([train[data.corpus[train]], keep]))
        return family.build(config).fit(x[train], y[train]), {}
    return fit


def dummy(task: str, data: LabelledData, strategy: str, seed: int) -> Fit:
    """A DummyClassifier: the floor every model must clear."""
    def fit(train: np.ndarray) -> tuple[Any, dict[str, Any]]:
        return DummyClassifier(strategy=strategy, random_state=seed).fit(
            np.zeros((len(train), 1)), data.y[task][train]), {}
    return fit


def shuffled(data: LabelledData, config: Config) -> LabelledData:
    """The data with its articles replaced by random folds of corpus units and every row its own
    copy group: the random split that lets near-copies leak, for comparison only."""
    rng = np.random.default_rng(config.seed)
    articles = data.articles.copy()
    corpus = np.flatnonzero(data.corpus)
    articles[corpus] = [f"random fold {k + 1}" for k in
                        rng.permutation(np.arange(len(corpus)) % config.evaluation.random_split_folds)]
    return LabelledData(data.ids, data.texts, data.y, data.classes, articles, data.batches,
                        np.arange(len(data)))


def _warn_small(task: str, data: LabelledData, splitter: HoldOneOut, warn: Warn) -> None:
    """Warn when a held-out class has fewer than two training rows in its fold."""
    y, names = data.y[task], data.classes[task]
    folds = splitter.folds(data.groups())
    for (train, test), (_, held_out) in zip(splitter.split(y, y, data.groups()), folds, strict=True):
        counts = np.bincount(y[train], minlength=len(names))
        for c in sorted(set(y[test].tolist())):
            if counts[c] < 2:
                warn(f"warning: {task}: fold {held_out}: class {names[c]!r} has {counts[c]} training "
                     "row(s); its held-out rows can hardly be predicted")


# --- one task, one family -----------------------------------------------------------------------

@dataclass
class TaskRuns:
    """The nested runs of one task, kept for the out-of-fold file and the audit."""

    loao: OOF
    lobo: OOF | None


def _brief(run: OOF, names: Sequence[str]) -> Brief:
    return scores(run, names).brief()


def evaluate_task(family: Family, task: str, x: Any, data: LabelledData, config: Config,
                  warn: Warn, jobs: int = 1) -> tuple[TaskResult, TaskRuns]:
    """Every number of the report for one task of one family."""
    names = data.classes[task]
    has_batches = bool((~data.corpus).any())
    protocols: dict[str, HoldOneOut] = {"loao": LeaveOneArticleOut()}
    if has_batches:
        protocols["lobo"] = LeaveOneBatchOut()
    _warn_small(task, data, protocols["loao"], warn)
    with quiet():
        runs = {key: out_of_fold(nested(family, task, x, data, config), x, data, task, splitter,
                                 desc=f"{family.name} {task} {key}", jobs=jobs)
                for key, splitter in protocols.items()}
        baselines = {key: {strategy: _brief(out_of_fold(dummy(task, data, strategy, config.seed), x,
                                                        data, task, splitter), names)
                           for strategy in ("most_frequent", "stratified")}
                     for key, splitter in protocols.items()}
        leaky = shuffled(data, config)
        random_split = _brief(out_of_fold(nested(family, task, x, leaky, config, LeaveOneArticleOut()),
                                          x, leaky, task, LeaveOneArticleOut(), jobs=jobs), names)
        curve = learning_curve(family, task, x, data, config, protocols, jobs)
    result = TaskResult(
        loao=scores(runs["loao"], names), lobo=scores(runs["lobo"], names) if has_batches else None,
        baselines=baselines, random_split=random_split, learning_curve=curve,
        calibration=calibration(runs["loao"]), top_features={},
        small_classes=tuple(n for n, c in zip(names, np.bincount(data.y[task][data.corpus],
                                                                  minlength=len(names)), strict=True)
                            if c < 10))
    return result, TaskRuns(runs["loao"], runs.get("lobo"))


def learning_curve(family: Family, task: str, x: Any, data: LabelledData, config: Config,
                   protocols: dict[str, HoldOneOut], jobs: int = 1) -> tuple[CurvePoint, ...]:
    """Both protocols' macro-F1 against the number of composed training rows (default
    hyperparameters, no search: the curve shows data, not tuning)."""
    total = int((~data.corpus).sum())
    sizes = [n for n in config.evaluation.learning_curve_rows if n < total] + [total]
    points = []
    names = data.classes[task]
    for n in sizes:
        measured = {key: scores(out_of_fold(default(family, task, x, data, config, n), x, data, task,
                                            splitter, jobs=jobs), names).macro_f1
                    for key, splitter in protocols.items()}
        points.append(CurvePoint(n, measured["loao"], measured.get("lobo")))
    return tuple(points)


def evaluate_family(family: Family, data: LabelledData, config: Config, warn: Warn,
                    speed: float, jobs: int = 1) -> tuple[FamilyResult, dict[str, TaskRuns]]:
    """The evaluation of one family, both tasks. ``speed`` is its scorer's sentences per second."""
    started = time.perf_counter()
    x = family.features(data)
    results, runs = {}, {}
    for task in TASKS:
        results[task], runs[task] = evaluate_task(family, task, x, data, config, warn, jobs)
    return FamilyResult(family.name, family.description, results,
                        round(time.perf_counter() - started, 1), round(speed, 1)), runs


def rule_table(families: dict[str, FamilyResult]) -> tuple[dict[str, dict[str, RuleRow]],
                                                           dict[str, str], str]:
    """The family rule's inputs and scores per family and task, the winner per task, and the
    recommended family (selection.recommend)."""
    scores_: dict[str, dict[str, FamilyScore]] = {
        name: {task: FamilyScore(r.tasks[task].loao.macro_f1,
                                 r.tasks[task].lobo.macro_f1 if r.tasks[task].lobo else None,
                                 r.sentences_per_second) for task in TASKS}
        for name, r in families.items()}
    rows = {name: {task: RuleRow(s.loao_macro_f1, s.lobo_macro_f1, round(s.rule_score, 4),
                                 s.sentences_per_second) for task, s in per.items()}
            for name, per in scores_.items()}
    winners = {task: task_winner({name: per[task] for name, per in scores_.items()}) for task in TASKS}
    return rows, winners, recommend(scores_)


def oof_rows(data: LabelledData, runs: dict[str, TaskRuns]) -> list[dict[str, Any]]:
    """One row per unit and composed row: gold label and nested out-of-fold probabilities per task
    (corpus units from leave-one-article-out, composed rows from leave-one-batch-out)."""
    out: dict[int, dict[str, Any]] = {}
    for task, task_runs in runs.items():
        names = data.classes[task]
        for run in (task_runs.loao, task_runs.lobo):
            if run is None:
                continue
            for row, gold, proba in zip(run.rows, run.y_true, run.proba, strict=True):
                item = out.setdefault(row, {"id": data.ids[row], "text": data.texts[row],
                                            "source": "corpus" if data.corpus[row] else "authored"})
                item[task] = {"gold": names[gold], "predicted": names[int(np.argmax(proba))],
                              "proba": {n: round(float(p), 4) for n, p in zip(names, proba, strict=True)}}
    return [out[r] for r in sorted(out)]


def top_features(pipeline: Any, k: int = 10) -> dict[str, tuple[str, ...]]:
    """The k features with the largest weight per class of a fitted TF-IDF + LR pipeline."""
    vectorizer, clf = pipeline.steps[0][1], pipeline.steps[-1][1]
    if not hasattr(vectorizer, "get_feature_names_out") or len(pipeline.steps) != 2:
        return {}
    features = vectorizer.get_feature_names_out()
    return {str(name): tuple(str(features[j]) for j in np.argsort(clf.coef_[i])[::-1][:k])
            for i, name in enumerate(clf.classes_)}


def now() -> str:
    """The timestamp the metrics carry."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def scorer_speed(scorer: Any, texts: list[str], seconds: float = 1.0) -> float:
    """Sentences per second of a saved model's scorer on these texts (after one warm-up call)."""
    scorer.predict_proba(texts[:64])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or not done:
        scorer.predict_proba(texts)
        done += len(texts)
    return done / (time.perf_counter() - started)


def with_top_features(result: FamilyResult, pipelines: dict[str, Any]) -> FamilyResult:
    """The result with the saved pipelines' most weighted features per class."""
    from dataclasses import replace

    return replace(result, tasks={task: replace(r, top_features=top_features(pipelines[task]))
                                  for task, r in result.tasks.items()})


def data_summary(data: LabelledData, second: dict[str, list[dict[str, str]]]) -> DataSummary:
    """Corpus and batch sizes, label counts, nearest-neighbour cosine and kappa per batch."""
    from karabakh_tagger.audit import kappa
    from karabakh_tagger.similarity import nearest_cosine

    nearest = nearest_cosine(list(data.texts))
    batches = {}
    for name in sorted(set(data.batches.tolist()) - {""}):
        rows = np.flatnonzero(data.batches == name)
        cells = {t: {s: int(np.sum((data.y["topic"][rows] == i) & (data.y["stance"][rows] == j)))
                     for j, s in enumerate(data.classes["stance"])}
                 for i, t in enumerate(data.classes["topic"])}
        near = nearest[rows]
        batches[name] = BatchSummary(len(rows), cells, round(float(np.median(near)), 3),
                                     round(float(np.percentile(near, 90)), 3), round(float(near.max()), 3),
                                     kappa(second[name]) if name in second else None)
    every = [row for name in batches for row in second.get(name, [])]
    return DataSummary(int(data.corpus.sum()), tuple(sorted(set(data.articles.tolist()) - {""})),
                       int((~data.corpus).sum()), batches, kappa(every) if every else None)


def metrics(results: dict[str, FamilyResult], config: Config, data: LabelledData,
            second: dict[str, list[dict[str, str]]]) -> Metrics:
    """The whole evaluation as one typed record."""
    rule, winners, recommended = rule_table(results)
    return Metrics(now(), config.to_dict(), data_summary(data, second), results, rule, winners,
                   recommended)


def headlines(metrics: Metrics) -> dict[str, dict[str, Headline]]:
    """Per family and task, the numbers the manifest keeps (and the card and the HTML view show)."""
    out: dict[str, dict[str, Headline]] = {}
    for family, result in metrics.families.items():
        out[family] = {}
        for task, r in result.tasks.items():
            out[family][task] = Headline(r.loao.macro_f1, r.loao.accuracy,
                                         r.lobo.macro_f1 if r.lobo else None,
                                         max(b.macro_f1 for b in r.baselines["loao"].values()),
                                         r.loao.f_avg)
    return out


class _Head:
    """One task's view of a fine-tuned model, as out_of_fold expects (classes_, predict_proba)."""

    def __init__(self, model: Any, task: str) -> None:
        self.model, self.task = model, task
        self.classes_ = np.arange(len(model.classes[task]))

    def predict_proba(self, texts: Any) -> np.ndarray:
        return self.model.predict_proba(list(texts))[self.task]


def evaluate_finetuned(data: LabelledData, config: Config, warn: Warn) -> tuple[FamilyResult,
                                                                               dict[str, TaskRuns]]:
    """The fine-tuned family on the same outer folds as every family, without an inner search.

    One fine-tuning per fold serves both tasks; there is no random split and no learning curve
    (each would mean dozens more fine-tunings).
    """
    from karabakh_tagger.finetune import DESCRIPTION, FAMILY, fine_tune

    started = time.perf_counter()
    x = np.asarray(data.texts, dtype=object)
    cache: dict[bytes, Any] = {}
    protocols: dict[str, HoldOneOut] = {"loao": LeaveOneArticleOut()}
    if (~data.corpus).any():
        protocols["lobo"] = LeaveOneBatchOut()

    def fit_for(task: str, key: str) -> Fit:
        def fit(train: np.ndarray) -> tuple[Any, dict[str, Any]]:
            marker = train.tobytes()
            if marker not in cache:
                cache[marker] = fine_tune(data, train, config, desc=f"finetune {key} fold {len(cache) + 1}")
            return _Head(cache[marker], task), {}
        return fit

    results, runs = {}, {}
    for task in TASKS:
        names = data.classes[task]
        task_runs = {key: out_of_fold(fit_for(task, key), x, data, task, splitter)
                     for key, splitter in protocols.items()}
        with quiet():
            baselines = {key: {s: _brief(out_of_fold(dummy(task, data, s, config.seed), x, data, task,
                                                     splitter), names)
                               for s in ("most_frequent", "stratified")}
                         for key, splitter in protocols.items()}
        results[task] = TaskResult(
            loao=scores(task_runs["loao"], names),
            lobo=scores(task_runs["lobo"], names) if "lobo" in task_runs else None,
            baselines=baselines, random_split=None, learning_curve=(),
            calibration=calibration(task_runs["loao"]), top_features={},
            small_classes=tuple(n for n, c in zip(names, np.bincount(data.y[task][data.corpus],
                                                                      minlength=len(names)), strict=True)
                                if c < 10))
        runs[task] = TaskRuns(task_runs["loao"], task_runs.get("lobo"))
    return FamilyResult(FAMILY, DESCRIPTION, results, round(time.perf_counter() - started, 1), 0.0), runs
