"""Cross-validation splitters in scikit-learn's own vocabulary: ``cv=LeaveOneArticleOut()``.

``groups`` is :meth:`LabelledData.groups`: one (article, batch, copy group) row per sample. A fold
holds out every row of one article (or one composed batch); rows of the other kind are never held
out, only trained on; and a training row that shares a copy group with a held-out row is dropped
from that fold, so no sentence sits on both sides of a split. The same splitters serve the outer
loops, the inner search (``GridSearchCV(cv=...)``), the learning curve and the dummy baselines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import BaseCrossValidator

ARTICLE, BATCH = "article", "batch"
_COLUMN = {ARTICLE: 0, BATCH: 1}


class HoldOneOut(BaseCrossValidator):
    """Hold out one article or one batch at a time (``kinds`` says which are held out)."""

    kinds: tuple[str, ...] = (ARTICLE, BATCH)

    def folds(self, groups: Any) -> list[tuple[str, str]]:
        """``(kind, name)`` of each fold, in split order: articles first, then batches, sorted."""
        g = np.asarray(groups, dtype=object)
        return [(kind, name) for kind in self.kinds
                for name in sorted({str(v) for v in g[:, _COLUMN[kind]]} - {""})]

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train, test) row indices per fold; train excludes copies of the test rows."""
        if groups is None:
            raise ValueError(f"{type(self).__name__} needs groups=LabelledData.groups()")
        g = np.asarray(groups, dtype=object)
        n_samples = X.shape[0] if hasattr(X, "shape") else len(X)
        if g.ndim != 2 or g.shape[1] != 3 or len(g) != n_samples:
            raise ValueError("groups must have one (article, batch, copy group) row per sample")
        copies = g[:, 2].astype(np.int64)
        for kind, name in self.folds(g):
            test = g[:, _COLUMN[kind]] == name
            train = ~test & ~np.isin(copies, copies[test])
            yield np.flatnonzero(train), np.flatnonzero(test)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """The number of folds (articles and/or batches present in ``groups``)."""
        if groups is None:
            raise ValueError(f"{type(self).__name__} needs groups to count its folds")
        return len(self.folds(groups))


class LeaveOneArticleOut(HoldOneOut):
    """One fold per article; composed rows always train."""

    kinds = (ARTICLE,)


class LeaveOneBatchOut(HoldOneOut):
    """One fold per batch of composed sentences; article units always train."""

    kinds = (BATCH,)


class LeaveOneArticleOrBatchOut(HoldOneOut):
    """One fold per article and one per batch: the inner folds of the hyperparameter search."""

    kinds = (ARTICLE, BATCH)
