"""The selection rules: pooled out-of-fold macro-F1 for hyperparameters, the family rule."""

from __future__ import annotations

import numpy as np
import pytest

from karabakh_tagger.selection import (
    FamilyScore,
    PooledRule,
    confusion_scoring,
    macro_f1,
    preference,
    recommend,
    task_winner,
)


def test_macro_f1_over_present_classes_matches_sklearn() -> None:
    from sklearn.metrics import f1_score

    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0, 0])
    confusion = np.zeros((4, 4), dtype=int)  # class 3 never occurs: it does not count
    for a, b in zip(y, p, strict=True):
        confusion[a, b] += 1
    assert macro_f1(confusion) == pytest.approx(f1_score(y, p, labels=[0, 1, 2], average="macro"))


def _results(points: list[dict], per_split: list[list[np.ndarray]]) -> dict:
    """cv_results_ as GridSearchCV writes them: split{k}_test_c{i}_{j}[point]."""
    results: dict = {"params": points}
    n = per_split[0][0].shape[0]
    for split in range(len(per_split[0])):
        for i in range(n):
            for j in range(n):
                results[f"split{split}_test_c{i}_{j}"] = [m[split][i, j] for m in per_split]
    return results


def test_pooled_is_not_the_mean_of_folds() -> None:
    # Point 0 is perfect on a big fold and wrong on a one-row fold; point 1 the opposite.
    big_good, big_bad = np.array([[5, 0], [0, 5]]), np.array([[3, 2], [2, 3]])
    tiny_good, tiny_bad = np.array([[1, 0], [0, 0]]), np.array([[0, 1], [0, 0]])
    results = _results([{"C": 1.0}, {"C": 10.0}], [[big_good, tiny_bad], [big_bad, tiny_good]])
    rule = PooledRule(2, ["article", "article"], tolerance=0.0)
    assert rule(results) == 0
    assert rule.best_score == pytest.approx(macro_f1(big_good + tiny_bad))


def test_ties_go_to_balanced_then_smaller_c() -> None:
    same = [np.array([[4, 1], [1, 4]])]
    points = [{"C": 100.0, "class_weight": None}, {"C": 100.0, "class_weight": "balanced"},
              {"C": 1.0, "class_weight": "balanced"}, {"C": 1.0, "class_weight": None}]
    rule = PooledRule(2, ["article"], tolerance=0.005)
    assert rule(_results(points, [same] * 4)) == 2
    better = [np.array([[5, 0], [1, 4]])]  # clearly better than the rest: wins despite C and weight
    assert rule(_results(points, [better, same, same, same])) == 0
    assert preference({"C": 1.0, "class_weight": "balanced"}, 5) < preference(
        {"C": 0.1, "class_weight": None}, 0)
    assert preference({"clf__C": 1.0, "clf__class_weight": None}, 0)[0] == 1


def test_the_score_is_the_mean_of_the_pooled_article_and_batch_scores() -> None:
    article, batch = np.array([[2, 0], [0, 2]]), np.array([[1, 1], [1, 1]])
    rule = PooledRule(2, ["article", "batch"], tolerance=0.0)
    rule(_results([{"C": 1.0}], [[article, batch]]))
    assert rule.best_score == pytest.approx((1.0 + 0.5) / 2)


def test_confusion_scoring_counts_one_fold() -> None:
    class Fixed:
        def predict(self, x: list) -> np.ndarray:
            return np.array([0, 1, 1])

    counts = confusion_scoring(2)(Fixed(), [0, 0, 0], np.array([0, 0, 1]))
    assert counts == {"c0_0": 1, "c0_1": 1, "c1_0": 0, "c1_1": 1}


def test_family_rule_mean_then_speed() -> None:
    fast = FamilyScore(0.50, 0.70, 20000.0)
    slow = FamilyScore(0.60, 0.66, 300.0)
    assert fast.rule_score == pytest.approx(0.60) and slow.rule_score == pytest.approx(0.63)
    assert task_winner({"fast": fast, "slow": slow}) == "slow"
    near = FamilyScore(0.61, 0.64, 300.0)  # 0.625, within 0.01 of the fast family's 0.62
    assert task_winner({"fast": FamilyScore(0.62, 0.62, 20000.0), "slow": near}) == "fast"
    assert FamilyScore(0.4, None, 1.0).rule_score == 0.4
    scores = {"a": {"topic": FamilyScore(0.5, 0.5, 10), "stance": FamilyScore(0.6, 0.6, 10)},
              "b": {"topic": FamilyScore(0.7, 0.7, 1), "stance": FamilyScore(0.595, 0.6, 1)}}
    assert recommend(scores) == "b"  # stance tied within 0.01: topic decides
    scores["b"]["stance"] = FamilyScore(0.5, 0.5, 1)
    assert recommend(scores) == "a"
