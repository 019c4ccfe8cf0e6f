"""Pipeline construction: feature kinds, the classifier, the grid in config keys."""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from karabakh_tagger.config import load_config
from karabakh_tagger.model import BASELINE, build_pipeline, describe_params, param_grid

from conftest import BASE_CONFIG


@pytest.mark.parametrize(("kind", "analyzers"), [("word", ["word"]), ("char", ["char_wb"]),
                                                 ("union", ["word", "char_wb"])])
def test_feature_kinds(kind: str, analyzers: list[str]) -> None:
    config = load_config(BASE_CONFIG, [f"features.kind={kind}"]).config
    pipeline = build_pipeline(config)
    assert [name for name, _ in pipeline.steps] == ["tfidf", "clf"]
    step = pipeline.named_steps["tfidf"]
    vectorizers = [v for _, v in step.transformer_list] if isinstance(step, FeatureUnion) else [step]
    assert [v.analyzer for v in vectorizers] == analyzers
    assert all(isinstance(v, TfidfVectorizer) and v.sublinear_tf for v in vectorizers)
    word = next((v for v in vectorizers if v.analyzer == "word"), None)
    if word is not None:
        assert word.ngram_range == config.features.word_ngram_range


def test_classifier_takes_the_config_values() -> None:
    config = load_config(BASE_CONFIG, ["classifier.C=3", "classifier.class_weight=null"]).config
    clf = build_pipeline(config).named_steps["clf"]
    assert isinstance(clf, LogisticRegression)
    assert (clf.C, clf.class_weight, clf.solver, clf.random_state) == (3.0, None, "newton-cg", config.seed)


def test_grid_is_the_configs_grid_in_classifier_parameters_and_back(tiny_config: Any) -> None:
    config = load_config(BASE_CONFIG).config
    grid = param_grid(config)
    assert grid == {"C": config.search.grid["classifier.C"],
                    "class_weight": config.search.grid["classifier.class_weight"]}
    assert describe_params({"C": 10.0, "class_weight": None}) == {"classifier.C": 10.0,
                                                                  "classifier.class_weight": None}
    assert param_grid(tiny_config.config) == {"C": [1.0, 10.0], "class_weight": ["balanced"]}


def test_the_baseline_family_builds_a_plain_two_step_pipeline(corpus_data: Any) -> None:
    config = load_config(BASE_CONFIG).config
    pipeline = BASELINE.build(config)
    assert isinstance(pipeline, Pipeline) and list(pipeline.named_steps) == ["tfidf", "clf"]
    x = BASELINE.features(corpus_data)
    assert list(x) == list(corpus_data.texts)
    fitted = pipeline.fit(x, corpus_data.y["stance"])
    assert fitted.predict(["Putin defended the agreement."]).shape == (1,)
