"""Score word TF-IDF + logistic-regression pipelines with numpy alone, for the tagging path.

Importing scikit-learn (with the scipy and pandas it pulls in) takes 1-1.5 s, most of a CLI run
on a normal article, and unpickling a joblib file runs code. At training time the two pipelines
are also exported as plain arrays (``models/fast.npz``, loaded with ``allow_pickle=False`` and
checked against the manifest); this module reproduces their ``predict_proba`` (same
preprocessing, tokens, n-grams, sublinear tf, idf, l2 norm, softmax) to float32 rounding, and the
export is refused unless it does so on every training text and a fixed list of probes. Pipelines of
any other shape (char or union features, a one-vs-rest or binary classifier) are not exported, and
tagging unpickles the joblib pipelines instead.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from karabakh_tagger.labels import TASKS

FORMAT_VERSION = 2
"""Layout of fast.npz: version 2 stores each distinct vocabulary once, compressed."""
PROBES = (
    "Russian peacekeepers arrived in Stepanakert on Friday.",
    "France asked Moscow to clear up the ambiguities of the agreement!",
    "Turkish troops will join the monitoring centre, Ankara said.",
    "Zürich, Baku: “naïve” CAFÉ — ÉTÉ ½ ﬁve", "", "   ", "qqq zzz", "Read more",
    "the the the ceasefire ceasefire truce " * 20,
)
"""Fixed probe sentences, composed for the export check (beside every training text)."""


class ExportError(Exception):
    """The pipelines cannot be exported, or the export does not reproduce them (the message says why)."""


def eligibility(pipeline: Any) -> str | None:
    """None when ``pipeline`` is Pipeline([TfidfVectorizer(word, plain), multinomial LR]), else why not."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return "not a two-step Pipeline"
    vec, clf = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(vec, TfidfVectorizer):
        return f"the features are {type(vec).__name__}, not a word TfidfVectorizer"
    if not (vec.analyzer == "word" and vec.tokenizer is None and vec.preprocessor is None
            and vec.stop_words is None and not vec.binary and vec.norm == "l2" and vec.use_idf
            and vec.strip_accents in (None, "unicode", "ascii") and vec.ngram_range[0] >= 1):
        return "the TfidfVectorizer has settings the numpy scorer does not reproduce"
    if not isinstance(clf, LogisticRegression):
        return f"the classifier is {type(clf).__name__}, not a LogisticRegression"
    if clf.solver == "liblinear" or clf.coef_.shape[0] != len(clf.classes_) or len(clf.classes_) < 3:
        return "the logistic regression is one-vs-rest or binary, not multinomial"
    return None


def export(pipelines: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays that score both pipelines; an ExportError saying why when they cannot be."""
    for task in TASKS:
        reason = eligibility(pipelines[task])
        if reason:
            raise ExportError(f"{task}: {reason}")
    arrays: dict[str, np.ndarray] = {"format_version": np.asarray(FORMAT_VERSION)}
    meta: dict[str, Any] = {"classes": {}, "vectorizer": {}, "vocabulary": {}}
    vocabularies: list[bytes] = []
    for task in TASKS:
        vec, clf = pipelines[task].steps[0][1], pipelines[task].steps[1][1]
        terms = "\n".join(sorted(vec.vocabulary_, key=vec.vocabulary_.get)).encode("utf-8")
        if terms not in vocabularies:
            vocabularies.append(terms)
            arrays[f"vocabulary{len(vocabularies) - 1}"] = np.frombuffer(terms, dtype=np.uint8)
        meta["vocabulary"][task] = vocabularies.index(terms)
        arrays[f"{task}_idf"] = np.asarray(vec.idf_)
        arrays[f"{task}_coef"] = np.asarray(clf.coef_)
        arrays[f"{task}_intercept"] = np.asarray(clf.intercept_)
        meta["classes"][task] = [str(c) for c in clf.classes_]
        meta["vectorizer"][task] = {
            "lowercase": bool(vec.lowercase), "strip_accents": vec.strip_accents,
            "token_pattern": vec.token_pattern, "ngram_range": list(vec.ngram_range),
            "sublinear_tf": bool(vec.sublinear_tf), "dtype": np.dtype(vec.dtype).name,
        }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    return arrays


def verify(scorer: LinearScorer, pipelines: dict[str, Any], texts: list[str]) -> None:
    """ExportError unless the scorer gives the pipelines' probabilities on ``texts`` and the probes."""
    sample = [*texts, *PROBES]
    got = scorer.predict_proba(sample)
    for task in TASKS:
        if scorer.classes[task] != [str(c) for c in pipelines[task].classes_]:
            raise ExportError(f"{task}: the exported classes differ from the pipeline's")
        expected = pipelines[task].predict_proba(sample)
        if not np.allclose(got[task], expected, rtol=1e-4, atol=1e-6):
            worst = int(np.abs(got[task] - expected).max(axis=1).argmax())
            raise ExportError(f"{task}: the numpy scorer differs from the pipeline on "
                              f"{sample[worst][:60]!r}")


def save(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the arrays as a compressed .npz (np.savez adds the suffix unless given a handle)."""
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def _strip_unicode(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _strip_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ASCII", "ignore").decode("ASCII")


class _Vectorizer:
    """One fitted word TF-IDF vectorizer, as arrays."""

    def __init__(self, terms: np.ndarray, idf: np.ndarray, settings: dict[str, Any]) -> None:
        words = bytes(terms).decode("utf-8").split("\n")  # a term is \w+ words joined by spaces
        self.vocabulary = {word: i for i, word in enumerate(words)}
        self.dtype = np.dtype(settings["dtype"])
        self.idf = idf.astype(self.dtype)
        self.lowercase = settings["lowercase"]
        self.strip = {"unicode": _strip_unicode, "ascii": _strip_ascii}.get(settings["strip_accents"])
        self.findall = re.compile(settings["token_pattern"]).findall
        self.low, self.high = settings["ngram_range"]
        self.sublinear = settings["sublinear_tf"]
        self.key = (bytes(terms), idf.tobytes(), json.dumps(settings, sort_keys=True))

    def _ids(self, text: str) -> Counter[int | None]:
        """Counts of the vocabulary ids of a text's n-grams (None counts the unknown ones)."""
        if self.lowercase:
            text = text.lower()
        if self.strip is not None:
            text = self.strip(text)
        tokens = self.findall(text)
        get = self.vocabulary.get
        ids = Counter(map(get, tokens)) if self.low == 1 else Counter()
        for n in range(max(self.low, 2), self.high + 1):
            if n == 2:
                ids.update(map(get, map(" ".join, itertools.pairwise(tokens))))
            else:
                ids.update(get(" ".join(tokens[i:i + n])) for i in range(len(tokens) - n + 1))
        return ids

    def transform(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sparse rows as (row of each entry, column, value), l2-normalised like sklearn."""
        cols: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        for text in texts:
            found = self._ids(text)
            found.pop(None, None)
            cols += found.keys()
            counts += found.values()
            lengths.append(len(found))
        row = np.repeat(np.arange(len(texts)), lengths)
        col = np.asarray(cols, dtype=np.int64)
        value = np.asarray(counts, dtype=self.dtype)
        if self.sublinear:
            value = np.log(value) + self.dtype.type(1)
        value = value * self.idf[col]
        norms = np.sqrt(np.bincount(row, weights=value.astype(np.float64) ** 2, minlength=len(texts)))
        value = value / np.where(norms == 0, 1, norms)[row].astype(self.dtype)
        return row, col, value


class LinearScorer:
    """``predict_proba`` of both exported pipelines, without scikit-learn."""

    def __init__(self, arrays: Any) -> None:
        version = int(arrays["format_version"]) if "format_version" in arrays else 1
        if version != FORMAT_VERSION:
            raise ValueError(f"format version {version}, this package reads {FORMAT_VERSION}")
        meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
        self.classes: dict[str, list[str]] = meta["classes"]
        self.vectorizers = {t: _Vectorizer(arrays[f"vocabulary{meta['vocabulary'][t]}"],
                                           arrays[f"{t}_idf"], meta["vectorizer"][t]) for t in TASKS}
        self.coef = {t: np.asarray(arrays[f"{t}_coef"]) for t in TASKS}
        self.intercept = {t: np.asarray(arrays[f"{t}_intercept"]) for t in TASKS}
        self.shared = self.vectorizers["topic"].key == self.vectorizers["stance"].key

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearScorer:
        """Read the bytes of a fast.npz written by :func:`save` (never unpickles)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls({key: arrays[key] for key in arrays.files})

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Class probabilities per task, columns in ``self.classes[task]`` order."""
        out: dict[str, np.ndarray] = {}
        features = self.vectorizers["topic"].transform(texts) if self.shared else None
        for task in TASKS:
            row, col, value = features or self.vectorizers[task].transform(texts)
            coef = self.coef[task]
            scores = np.zeros((len(texts), coef.shape[0]))
            for k in range(coef.shape[0]):  # a sparse-dense product, one class at a time
                scores[:, k] = np.bincount(row, weights=coef[k, col] * value, minlength=len(texts))
            scores += self.intercept[task]
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[task] = scores / scores.sum(axis=1, keepdims=True)
        return out
