"""The splitters: one fold per article or batch, composed rows only train, no copy on both sides."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from karabakh_tagger.splits import LeaveOneArticleOrBatchOut, LeaveOneArticleOut, LeaveOneBatchOut


def _groups(rows: list[tuple[str, str, int]]) -> np.ndarray:
    return np.array(rows, dtype=object)


def test_leave_one_article_out_on_the_corpus(corpus_data: Any) -> None:
    splitter = LeaveOneArticleOut()
    groups = corpus_data.groups()
    splits = list(splitter.split(corpus_data.texts, None, groups))
    assert splitter.get_n_splits(groups=groups) == len(splits) == 5
    assert [name for _, name in splitter.folds(groups)] == sorted(set(corpus_data.articles.tolist()))
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(len(corpus_data)))
    dropped = 0
    for train, test in splits:
        assert len(set(corpus_data.articles[test].tolist())) == 1
        assert not set(corpus_data.articles[train]) & set(corpus_data.articles[test])
        assert not set(corpus_data.copies[train]) & set(corpus_data.copies[test])
        dropped += len(corpus_data) - len(train) - len(test)
    assert dropped == 4  # the two cross-article copies each cost one training row in two folds


def test_composed_rows_only_train_in_loao_and_are_the_folds_of_lobo(data: Any) -> None:
    groups = data.groups()
    composed = set(np.flatnonzero(~data.corpus).tolist())
    for train, test in LeaveOneArticleOut().split(data.texts, None, groups):
        assert not composed & set(test.tolist())
        assert composed - set(train.tolist()) == {i for i in composed
                                                  if data.copies[i] in set(data.copies[test])}
    batches = sorted(set(data.batches.tolist()) - {""})
    lobo = list(LeaveOneBatchOut().split(data.texts, None, groups))
    assert len(lobo) == len(batches)
    for (train, test), batch in zip(lobo, batches, strict=True):
        assert set(data.batches[test].tolist()) == {batch}
        assert set(np.flatnonzero(data.corpus).tolist()) - set(train.tolist()) <= {
            i for i in np.flatnonzero(data.corpus) if data.copies[i] in set(data.copies[test])}
    both = LeaveOneArticleOrBatchOut()
    assert [kind for kind, _ in both.folds(groups)] == ["article"] * 5 + ["batch"] * len(batches)


def test_a_copy_in_another_fold_is_dropped_from_training() -> None:
    groups = _groups([("a", "", 0), ("a", "", 1), ("b", "", 2), ("", "x", 1), ("", "y", 3)])
    as_lists = [(tr.tolist(), te.tolist()) for tr, te in LeaveOneArticleOut().split(range(5), None, groups)]
    assert as_lists == [([2, 4], [0, 1]), ([0, 1, 3, 4], [2])]  # row 3 copies row 1
    lobo = [(tr.tolist(), te.tolist()) for tr, te in LeaveOneBatchOut().split(range(5), None, groups)]
    assert lobo == [([0, 2, 4], [3]), ([0, 1, 2, 3], [4])]


def test_bad_groups_are_refused() -> None:
    with pytest.raises(ValueError, match="needs groups"):
        list(LeaveOneArticleOut().split(range(3)))
    with pytest.raises(ValueError, match=r"one .* row per sample"):
        list(LeaveOneArticleOut().split(range(3), None, _groups([("a", "", 0)])))


def test_grid_search_takes_the_splitter_as_cv() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = np.array([0, 1] * 20)
    groups = _groups([(f"a{i % 4}", "", i) for i in range(40)])
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=LeaveOneArticleOut())
    search.fit(x, y, groups=groups)
    assert search.n_splits_ == 4
