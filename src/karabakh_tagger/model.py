"""Pipeline construction for the baseline family: one plain scikit-learn
``Pipeline([("tfidf", ...), ("clf", LogisticRegression(...))])`` per task.

The saved artifact is exactly this object, so ``joblib.load(path).predict([...])`` works in any
script that has scikit-learn, without importing this package. The vectorizer always travels with
the classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from karabakh_tagger.config import ClassifierConfig, Config, FeaturesConfig
from karabakh_tagger.data import LabelledData

PARAMETER = {"classifier.C": "C", "classifier.class_weight": "class_weight",
             "classifier.max_iter": "max_iter"}
"""Config key -> LogisticRegression parameter, for the keys the grid may vary (config.SEARCHABLE)."""


def make_vectorizer(features: FeaturesConfig) -> TfidfVectorizer | FeatureUnion:
    """The "tfidf" step: word n-grams, char_wb n-grams, or their union."""
    common = dict(sublinear_tf=features.sublinear_tf, min_df=features.min_df,
                  max_df=features.max_df, lowercase=features.lowercase,
                  strip_accents=features.strip_accents, dtype=np.float32)
    word = TfidfVectorizer(analyzer="word", ngram_range=features.word_ngram_range,
                           token_pattern=r"(?u)\b\w+\b", **common)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=features.char_ngram_range, **common)
    return {"word": word, "char": char}.get(features.kind) or FeatureUnion(
        [("word", word), ("char", char)])


def make_classifier(clf: ClassifierConfig, seed: int) -> LogisticRegression:
    """Multinomial logistic regression with the config's settings."""
    return LogisticRegression(C=clf.C, class_weight=clf.class_weight, solver=clf.solver,
                              max_iter=clf.max_iter, random_state=seed)


def build_pipeline(config: Config) -> Pipeline:
    """The untrained pipeline with the config's own values (what runs where nothing is searched)."""
    return Pipeline([("tfidf", make_vectorizer(config.features)),
                     ("clf", make_classifier(config.classifier, config.seed))])


def param_grid(config: Config) -> dict[str, list[Any]]:
    """The search grid as parameters of the classifier (the config's grid names config keys)."""
    return {PARAMETER[key]: list(values) for key, values in config.search.grid.items()}


def describe_params(params: dict[str, Any]) -> dict[str, Any]:
    """Chosen classifier parameters as config keys (``C`` -> ``classifier.C``), plain data."""
    back = {v: k for k, v in PARAMETER.items()}
    return {back.get(k, k): v for k, v in params.items()}


@dataclass(frozen=True)
class Family:
    """A model family as training and evaluation see it.

    ``features`` gives the raw input of every row (the texts, or precomputed embeddings);
    ``featurizer`` an unfitted transformer that is fitted on each training fold (None when the
    raw input already is the feature matrix); ``classifier`` the estimator the grid varies.
    The fitted model is ``Pipeline([("tfidf", featurizer), ("clf", classifier)])`` (or only the
    classifier step).
    """

    name: str
    description: str
    features: Callable[[LabelledData], Any]
    featurizer: Callable[[Config], Any]
    classifier: Callable[[Config], Any]

    def pipeline(self, featurizer: Any, classifier: Any) -> Pipeline:
        """The fitted steps as one pipeline."""
        steps = [("tfidf", featurizer)] if featurizer is not None else []
        return Pipeline([*steps, ("clf", classifier)])

    def build(self, config: Config) -> Pipeline:
        """The untrained pipeline with the config's own values."""
        return self.pipeline(self.featurizer(config), self.classifier(config))


def texts(data: LabelledData) -> np.ndarray:
    """The baseline's raw input: the texts themselves."""
    return np.asarray(data.texts, dtype=object)


def baseline_vectorizer(config: Config) -> TfidfVectorizer | FeatureUnion:
    """The baseline's featurizer."""
    return make_vectorizer(config.features)


def baseline_classifier(config: Config) -> LogisticRegression:
    """The baseline's classifier."""
    return make_classifier(config.classifier, config.seed)


BASELINE = Family("baseline", "word TF-IDF + logistic regression per task (scikit-learn Pipeline)",
                  texts, baseline_vectorizer, baseline_classifier)


def _no_featurizer(config: Config) -> None:
    return None


def _fixed_features(x: np.ndarray, data: LabelledData) -> np.ndarray:
    if len(x) != len(data):
        raise ValueError("the embeddings do not belong to these rows")
    return x


def encoder_family(embeddings: np.ndarray) -> Family:
    """The encoder family over precomputed embeddings of every row (the encoder is frozen, so they
    do not depend on the fold): only the logistic-regression heads are fitted and searched."""
    return Family("encoder", "all-MiniLM-L6-v2 sentence embeddings (ONNX) + logistic regression per task",
                  partial(_fixed_features, embeddings), _no_featurizer, baseline_classifier)
