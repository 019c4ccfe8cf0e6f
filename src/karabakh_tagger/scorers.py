"""What the tagger scores with: anything that maps sentences to class probabilities per task.

A :class:`Scorer` has ``classes`` (``{task: [class names]}``) and ``predict_proba(texts)`` (``{task:
array of shape (len(texts), len(classes[task]))}``). Implementations: the numpy scorer of
``fast.npz`` (``fastscore.LinearScorer``) and :class:`PipelineScorer` over the joblib pipelines;
``artifacts.load`` builds the right one from a model folder.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from karabakh_tagger.labels import TASKS


@runtime_checkable
class Scorer(Protocol):
    """Class probabilities per task for a list of sentences."""

    classes: dict[str, list[str]]

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Probabilities per task, columns in ``classes[task]`` order."""
        ...


class PipelineScorer:
    """The joblib pipelines as a Scorer; one transform when both tasks share the same features."""

    def __init__(self, pipelines: dict[str, Any]) -> None:
        self.pipelines = pipelines
        self.classes = {task: [str(c) for c in pipelines[task].classes_] for task in TASKS}
        self.shared = _shared_vectorizer(pipelines)

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Probabilities per task."""
        if self.shared is None:
            return {task: self.pipelines[task].predict_proba(texts) for task in TASKS}
        features = self.shared.transform(texts)
        return {task: self.pipelines[task][-1].predict_proba(features) for task in TASKS}


def _shared_vectorizer(pipelines: dict[str, Any]) -> Any:
    """The first step of both pipelines when it is the same fitted vectorizer, else None.

    Both tasks are trained on the same sentences, so unless the search chose different feature
    settings their vectorizers are identical, and transforming once halves the feature cost.
    """
    steps = [getattr(pipelines[task], "steps", []) for task in TASKS]
    if any(len(s) != 2 for s in steps):
        return None
    first, second = steps[0][0][1], steps[1][0][1]
    try:
        same = (type(first) is type(second) and repr(first.get_params()) == repr(second.get_params())
                and first.vocabulary_ == second.vocabulary_
                and np.array_equal(first.idf_, second.idf_))
    except AttributeError:  # not a fitted TfidfVectorizer (a union, say)
        return None
    return first if same else None
