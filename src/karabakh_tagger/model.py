"""Pipeline construction: one plain scikit-learn ``Pipeline([("tfidf", ...), ("clf", ...)])`` per task.

The saved artifact is exactly this object, so ``joblib.load(path).predict([...])`` works in any
script that has scikit-learn, without importing this package. The vectorizer always travels with
the classifier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer_names
from sklearn.pipeline import FeatureUnion, Pipeline

from karabakh_tagger.config import Config, FeaturesConfig
from karabakh_tagger.errors import InputError

FEATURE_KINDS = ("word", "char", "union", "minilm")


def make_vectorizer(features: FeaturesConfig, kind: str | None = None) -> Any:
    """The "tfidf" step for a feature kind: word n-grams, char_wb n-grams, or their union."""
    kind = kind or features.kind
    common = dict(sublinear_tf=features.sublinear_tf, min_df=features.min_df,
                  max_df=features.max_df, lowercase=features.lowercase,
                  strip_accents=features.strip_accents, dtype=np.float32)
    word = TfidfVectorizer(analyzer="word", ngram_range=features.word_ngram_range,
                           token_pattern=r"(?u)\b\w+\b", **common)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=features.char_ngram_range, **common)
    if kind == "word":
        return word
    if kind == "char":
        return char
    if kind == "union":
        return FeatureUnion([("word", word), ("char", char)])
    if kind == "minilm":
        from karabakh_tagger.embeddings import MiniLMEncoder

        return MiniLMEncoder()
    raise ValueError(f"unknown feature kind {kind!r}")


def build_pipeline(config: Config) -> Pipeline:
    """The untrained pipeline with the config's default hyperparameters."""
    clf = LogisticRegression(C=config.classifier.C, class_weight=config.classifier.class_weight,
                             solver=config.classifier.solver,
                             max_iter=config.classifier.max_iter, random_state=config.seed)
    return Pipeline([("tfidf", make_vectorizer(config.features)), ("clf", clf)])


def param_grid(config: Config, task: str) -> dict[str, list[Any]]:
    """The task's search grid as GridSearchCV parameters.

    The config's ``features`` key lists feature kinds; it becomes the ``tfidf`` step itself, so the
    search can compare word, char and union features like any other hyperparameter.
    """
    grid = {key: [tuple(v) if isinstance(v, list) else v for v in values]
            for key, values in config.search.grid.get(task, {}).items()}
    kinds = grid.pop("features", None)
    if config.search.scoring not in get_scorer_names():
        raise InputError(f"unknown scorer 'search.scoring: {config.search.scoring}' "
                         "(for example f1_macro, accuracy, balanced_accuracy)")
    known = build_pipeline(config).get_params()
    for key in grid:
        if key not in known:
            raise InputError(f"unknown grid parameter 'search.grid.{task}.{key}' (Pipeline "
                             "parameters look like clf__C or tfidf__min_df)")
    if kinds:
        bad = [k for k in kinds if k not in FEATURE_KINDS]
        if bad:
            raise InputError(f"unknown feature kind {bad[0]!r} in 'search.grid.{task}.features' "
                             f"(use {', '.join(FEATURE_KINDS)})")
        grid["tfidf"] = [make_vectorizer(config.features, kind) for kind in kinds]
    return grid


def describe_params(params: dict[str, Any]) -> dict[str, Any]:
    """Chosen parameters as plain data (a vectorizer object becomes its feature kind)."""
    out = {}
    for key, value in params.items():
        if key == "tfidf":
            out["features"] = feature_kind(value)
        else:
            out[key] = value
    return out


def feature_kind(vectorizer: Any) -> str:
    """Name of the feature kind of a "tfidf" step."""
    if isinstance(vectorizer, FeatureUnion):
        return "union"
    if isinstance(vectorizer, TfidfVectorizer):
        return "char" if vectorizer.analyzer == "char_wb" else "word"
    return type(vectorizer).__name__
