"""The selection rules, fixed before any number was looked at (docs/model-choice.md).

Hyperparameters (inside the training folds only): every grid point is scored by **pooled**
out-of-fold macro-F1, not by the mean of per-fold scores: the held-out predictions of all inner
folds of one kind (articles; composed batches) are pooled into one confusion matrix, macro-F1 is
taken over the classes present in their gold labels, and a point's score is the mean over the kinds
present. Points within ``tolerance`` of the best score are tied; a tie goes to
``class_weight="balanced"``, then to the smaller C, then to the earlier point of the grid.

``GridSearchCV`` runs it: :func:`confusion_scoring` makes each fold report its confusion counts,
and :class:`PooledRule` is the ``refit`` callable that sums them and picks the point.

Model families: per task, the family with the higher mean of nested leave-one-article-out and
leave-one-batch-out macro-F1 wins; within ``FAMILY_TOLERANCE`` the faster family wins. The
recommended family is the winner of stance (the task the old choice got wrong on new outlets); ties
there are decided by topic, then by speed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FAMILY_TOLERANCE = 0.01


def macro_f1(confusion: np.ndarray) -> float:
    """Macro-F1 over the classes present in the gold labels (rows) of a confusion matrix."""
    tp = np.diag(confusion).astype(float)
    gold, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    present = gold > 0
    if not present.any():
        return float("nan")
    denominator = gold + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1[present].mean())


def confusion_scoring(n_classes: int) -> Callable[[Any, Any, Any], dict[str, int]]:
    """A GridSearchCV ``scoring`` callable: one fold's confusion counts as ``c{gold}_{pred}``."""
    def score(estimator: Any, x: Any, y: Any) -> dict[str, int]:
        predicted = np.asarray(estimator.predict(x))
        y = np.asarray(y)
        return {f"c{i}_{j}": int(np.sum((y == i) & (predicted == j)))
                for i in range(n_classes) for j in range(n_classes)}
    return score


@dataclass
class PooledRule:
    """The ``refit`` callable of the search: pooled macro-F1 per fold kind, mean, tie-breaks.

    ``kinds`` is the kind ("article" or "batch") of each split, in split order. After the search,
    ``scores`` holds every point's score and ``best_score`` the chosen one's.
    """

    n_classes: int
    kinds: Sequence[str]
    tolerance: float
    scores: list[float] = field(default_factory=list)
    best_score: float = float("nan")

    def pooled(self, results: dict[str, Any], point: int) -> float:
        """The score of one grid point."""
        per_kind = []
        for kind in dict.fromkeys(self.kinds):
            matrix = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
            for split, split_kind in enumerate(self.kinds):
                if split_kind == kind:
                    for i in range(self.n_classes):
                        for j in range(self.n_classes):
                            matrix[i, j] += results[f"split{split}_test_c{i}_{j}"][point]
            per_kind.append(macro_f1(matrix))
        return float(np.nanmean(per_kind)) if per_kind else float("nan")

    def __call__(self, results: dict[str, Any]) -> int:
        params = results["params"]
        self.scores = [self.pooled(results, k) for k in range(len(params))]
        best = max(self.scores)
        tied = [k for k, s in enumerate(self.scores) if s >= best - self.tolerance - 1e-12]
        chosen = min(tied, key=lambda k: preference(params[k], k))
        self.best_score = self.scores[chosen]
        return chosen


def preference(params: dict[str, Any], position: int) -> tuple[int, float, int]:
    """Sort key among tied points: balanced first, then smaller C, then grid order."""
    weight = next((v for k, v in params.items() if k.split("__")[-1] == "class_weight"), "balanced")
    c = next((v for k, v in params.items() if k.split("__")[-1] == "C"), 0.0)
    return (0 if weight == "balanced" else 1, float(c), position)


@dataclass(frozen=True)
class FamilyScore:
    """What the family rule reads for one family and task."""

    loao_macro_f1: float
    lobo_macro_f1: float | None
    sentences_per_second: float

    @property
    def rule_score(self) -> float:
        """Mean of the two measures (the article measure alone where there are no batches)."""
        parts = [self.loao_macro_f1] + ([self.lobo_macro_f1] if self.lobo_macro_f1 is not None else [])
        return float(np.mean(parts))


def task_winner(scores: dict[str, FamilyScore]) -> str:
    """The family that wins one task by the rule."""
    best = max(s.rule_score for s in scores.values())
    tied = [f for f, s in scores.items() if s.rule_score >= best - FAMILY_TOLERANCE - 1e-12]
    return max(tied, key=lambda f: scores[f].sentences_per_second)


def recommend(scores: dict[str, dict[str, FamilyScore]]) -> str:
    """The recommended family from ``{family: {task: FamilyScore}}``: the winner of stance.

    Where stance is tied, the winner of topic among the tied families; then the faster one.
    """
    stance = {f: s["stance"] for f, s in scores.items()}
    best = max(s.rule_score for s in stance.values())
    tied = [f for f, s in stance.items() if s.rule_score >= best - FAMILY_TOLERANCE - 1e-12]
    if len(tied) == 1:
        return tied[0]
    return task_winner({f: scores[f]["topic"] for f in tied})
