"""Inference: split articles into units and tag each with a topic and a stance.

Needs only the segmenter and the saved artifacts (never ``train`` or ``evaluate``). Before any
artifact is unpickled its sha256 is checked against ``manifest.json``, because a joblib file
runs code when it is loaded.

Work is cut into batches of at most ``CHUNK_CHARS`` characters (long articles are split at
line breaks, short ones grouped), so memory stays flat however large the input, each
``predict_proba`` call is big enough to be efficient, and ``--jobs N`` can spread one huge file
over several cores while the output stays identical and in order.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from karabakh_tagger.errors import InputError
from karabakh_tagger.files import sha256_file
from karabakh_tagger.labels import TASKS
from karabakh_tagger.segment import segment

CHUNK_CHARS = 100_000
"""Characters per batch: ~700 sentences, large enough that per-call overhead vanishes."""


@dataclass(frozen=True, slots=True)
class TaggedUnit:
    """One tagged unit; ``text == article_text[start:end]``."""

    article: str
    index: int
    start: int
    end: int
    text: str
    topic: str
    topic_score: float
    stance: str
    stance_score: float
    topic_probs: dict[str, float] | None = None
    stance_probs: dict[str, float] | None = None

    def to_dict(self, probs: bool = False) -> dict[str, Any]:
        """Plain-data form, in the documented field order."""
        out: dict[str, Any] = {
            "article": self.article, "index": self.index, "start": self.start, "end": self.end,
            "text": self.text, "topic": self.topic, "topic_score": self.topic_score,
            "stance": self.stance, "stance_score": self.stance_score,
        }
        if probs:
            out["topic_probs"] = self.topic_probs
            out["stance_probs"] = self.stance_probs
        return out


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of one article: ``text`` starts at offset ``base`` of the article."""

    article: str
    base: int
    text: str
    last: bool  # the article's final piece


def read_manifest(models_dir: Path) -> dict[str, Any]:
    """The manifest of a model folder, or an InputError saying how to get one."""
    path = models_dir / "manifest.json"
    if not path.exists():
        raise InputError(f"{path}: no trained model here; run make train")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not all(isinstance(manifest["artifacts"][task]["sha256"], str) for task in TASKS):
            raise ValueError("artifact without sha256")
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path}: unreadable or incomplete manifest; retrain with make train") from None
    return manifest


def _check_versions(manifest: dict[str, Any], warn: Callable[[str], None]) -> None:
    trained = manifest.get("versions", {}).get("scikit-learn")
    try:
        installed = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:  # pragma: no cover - sklearn is a dependency
        return
    if trained and trained != installed:
        warn(f"warning: the models were trained with scikit-learn {trained} but {installed} is "
             "installed; predictions may differ (retrain with make train)")


def verify_artifacts(models_dir: Path) -> dict[str, Any]:
    """The manifest, after checking every artifact it lists against its sha256."""
    manifest = read_manifest(models_dir)
    manifest_path = models_dir / "manifest.json"
    for name, entry in manifest["artifacts"].items():
        path = models_dir / entry.get("file", f"{name}.joblib")
        if not path.exists():
            raise InputError(f"{path}: missing; run make train")
        if sha256_file(path) != entry.get("sha256"):
            raise InputError(f"{path} does not match {manifest_path}; retrain with make train")
    return manifest


def load_pipelines(models_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Unpickle the (already verified) joblib pipelines."""
    import joblib

    pipelines = {}
    for task in TASKS:
        path = models_dir / manifest["artifacts"][task].get("file", f"{task}.joblib")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's version warning: _check_versions says it once
                pipelines[task] = joblib.load(path)
        except Exception as err:  # a verified file that still fails: an incompatible install
            raise InputError(f"{path}: cannot be loaded ({type(err).__name__}: {err}); "
                             "retrain with make train") from None
        if not hasattr(pipelines[task], "predict_proba"):
            raise InputError(f"{path}: not a classifier pipeline; retrain with make train")
    return pipelines


def split_article(name: str, text: str, chunk_chars: int = CHUNK_CHARS) -> Iterator[Piece]:
    """Cut an article into pieces at line breaks (blank lines first), each near ``chunk_chars``.

    The cut depends only on the text, never on ``--jobs``, so output is the same either way.
    A piece boundary is always a block boundary for the segmenter when the text has blank
    lines; a single huge line is cut at white space (the segmenter caps such units anyway).
    """
    start = 0
    while len(text) - start > chunk_chars:
        window = text[start : start + chunk_chars]
        cut = max(window.rfind("\n\n"), window.rfind("\r\n\r\n"))
        if cut <= 0:
            cut = window.rfind("\n")
        if cut <= 0:
            cut = window.rfind(" ")
        cut = start + (cut if cut > 0 else chunk_chars)
        yield Piece(name, start, text[start:cut], last=False)
        start = cut
    yield Piece(name, start, text[start:], last=True)


def batches(pieces: Iterable[Piece], chunk_chars: int = CHUNK_CHARS) -> Iterator[list[Piece]]:
    """Group consecutive pieces into batches of about ``chunk_chars`` characters."""
    batch: list[Piece] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece.text)
        if size >= chunk_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


RawUnit = tuple[int, int, str, str, float, str, float, dict[str, float] | None, dict[str, float] | None]


class Tagger:
    """The topic and stance models behind one small API.

    Scores come from ``scorer`` (the numpy export of the pipelines, no scikit-learn import) when
    there is one, else from the joblib pipelines; ``pipelines`` is loaded on first use either way.
    """

    def __init__(self, pipelines: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None,
                 scorer: Any = None, loader: Callable[[], dict[str, Any]] | None = None) -> None:
        self._pipelines = pipelines
        self._loader = loader
        self.manifest = manifest or {}
        self.scorer = scorer
        if scorer is not None:
            self.classes = {task: list(scorer.classes[task]) for task in TASKS}
            self.shared = None
        else:
            self.classes = {task: [str(c) for c in self.pipelines[task].classes_] for task in TASKS}
            self.shared = _shared_vectorizer(self.pipelines)

    @property
    def pipelines(self) -> dict[str, Any]:
        """The scikit-learn pipelines (unpickled on first access when a scorer was given)."""
        if self._pipelines is None:
            if self._loader is None:
                raise InputError("no pipelines were given to this Tagger")
            self._pipelines = self._loader()
        return self._pipelines

    def _proba(self, texts: list[str]) -> dict[str, Any]:
        """Class probabilities per task; one TF-IDF transform when both tasks share the features."""
        if self.scorer is not None:
            return self.scorer.predict_proba(texts)
        if self.shared is None:
            return {task: self.pipelines[task].predict_proba(texts) for task in TASKS}
        features = self.shared.transform(texts)
        return {task: self.pipelines[task][-1].predict_proba(features) for task in TASKS}

    def tag_batch(self, batch: list[Piece], probs: bool = False) -> list[tuple[Piece, list[RawUnit]]]:
        """Segment every piece of a batch and tag all their units with one call per task."""
        spans = [segment(piece.text) for piece in batch]
        texts = [unit.text for units in spans for unit in units]
        if not texts:
            return [(piece, []) for piece in batch]
        scores = self._proba(texts)
        best = {task: scores[task].argmax(axis=1) for task in TASKS}
        out, k = [], 0
        for piece, units in zip(batch, spans, strict=True):
            rows: list[RawUnit] = []
            for unit in units:
                t, s = int(best["topic"][k]), int(best["stance"][k])
                rows.append((piece.base + unit.start, piece.base + unit.end, unit.text,
                             self.classes["topic"][t], round(float(scores["topic"][k, t]), 4),
                             self.classes["stance"][s], round(float(scores["stance"][k, s]), 4),
                             self._probs("topic", scores["topic"][k]) if probs else None,
                             self._probs("stance", scores["stance"][k]) if probs else None))
                k += 1
            out.append((piece, rows))
        return out

    def _probs(self, task: str, row: Any) -> dict[str, float]:
        return {c: round(float(p), 4) for c, p in zip(self.classes[task], row, strict=True)}

    def tag(self, text: str, article: str = "text", probs: bool = False) -> list[TaggedUnit]:
        """Tag one article's text."""
        return self.tag_many([text], [article], probs=probs)[0]

    def tag_many(self, texts: Iterable[str], names: Iterable[str] | None = None,
                 probs: bool = False) -> list[list[TaggedUnit]]:
        """Tag several articles, batched together; one list of units per text, in order."""
        texts = list(texts)
        names = list(names) if names is not None else [f"text{i}" for i in range(len(texts))]
        out: list[list[TaggedUnit]] = [[] for _ in texts]
        for position, _, units, _ in stream(self, zip(names, texts, strict=True), probs=probs):
            out[position].extend(units)
        return out


def _shared_vectorizer(pipelines: dict[str, Any]) -> Any:
    """The first step of both pipelines when it is the same fitted transformer, else None.

    Both tasks are trained on the same sentences, so unless the search chose different feature
    settings their vectorizers are identical, and transforming once halves the feature cost.
    """
    import numpy as np

    first, second = (getattr(pipelines[task], "steps", [[None, None]])[0][1] for task in TASKS)
    if len(getattr(pipelines["topic"], "steps", [])) != 2 or type(first) is not type(second):
        return None
    try:
        same = (repr(first.get_params()) == repr(second.get_params())
                and first.vocabulary_ == second.vocabulary_
                and np.array_equal(first.idf_, second.idf_))
    except AttributeError:  # not a fitted TfidfVectorizer (e.g. a union or an encoder)
        return None
    return first if same else None


def to_unit(article: str, index: int, row: RawUnit) -> TaggedUnit:
    """A TaggedUnit from a raw row of ``Tagger.tag_batch``."""
    start, end, text, topic, ts, stance, ss, tp, sp = row
    return TaggedUnit(article, index, start, end, text, topic, ts, stance, ss, tp, sp)


def load_tagger(models_dir: str | Path = "models",
                warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                fast: bool = True) -> Tagger:
    """A Tagger from a model folder written by ``make train`` (checked against its manifest).

    When the folder has the numpy export (``fast.npz``), tagging never imports scikit-learn nor
    unpickles anything; ``fast=False`` forces the joblib pipelines.
    """
    models_dir = Path(models_dir)
    manifest = verify_artifacts(models_dir)
    _check_versions(manifest, warn)
    fast_entry = manifest["artifacts"].get("fast")
    if fast and fast_entry:
        from karabakh_tagger.fastscore import LinearScorer

        path = models_dir / fast_entry["file"]
        try:
            scorer = LinearScorer.load(path)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path}: cannot be loaded ({err}); retrain with make train") from None
        return Tagger(manifest=manifest, scorer=scorer,
                      loader=lambda: load_pipelines(models_dir, manifest))
    return Tagger(load_pipelines(models_dir, manifest), manifest)


_WORKER: Tagger | None = None


def _work(job: tuple[list[Piece], bool]) -> list[tuple[Piece, list[RawUnit]]]:
    assert _WORKER is not None
    return _WORKER.tag_batch(*job)


def _ordered_map(func: Callable[[Any], Any], items: Iterable[Any], jobs: int) -> Iterator[Any]:
    """``map`` over ``items``, in order, on ``jobs`` forked processes with a bounded backlog.

    Only ``2 * jobs`` items are ever in flight, so a generator of a million articles is read as
    the results are consumed, not all at once (``Pool.imap`` would read it to the end).
    """
    if jobs <= 1:
        yield from map(func, items)
        return
    import multiprocessing
    from collections import deque

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.apply_async(func, (item,)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def stream(tagger: Tagger, articles: Iterable[tuple[str, str]], jobs: int = 1,
           probs: bool = False) -> Iterator[tuple[int, str, list[TaggedUnit], bool]]:
    """Tag ``(name, text)`` articles as they come: yields ``(position, name, units, is_last)``.

    Articles are read lazily from ``articles`` and results come back in input order, a batch
    at a time; unit indices run on across the pieces of a long article.
    """
    global _WORKER
    _WORKER = tagger
    counts: dict[int, int] = {}  # units emitted so far, per article still in flight
    titles: dict[int, str] = {}

    def pieces() -> Iterator[Piece]:
        for i, (name, text) in enumerate(articles):
            counts[i], titles[i] = 0, name
            yield from split_article(str(i), text)

    jobs_iter = ((batch, probs) for batch in batches(pieces()))
    func = _work if jobs > 1 else (lambda job: tagger.tag_batch(*job))
    for result in _ordered_map(func, jobs_iter, jobs):
        for piece, rows in result:
            i = int(piece.article)
            first, name = counts[i], titles[i]
            counts[i] += len(rows)
            if piece.last:
                del counts[i], titles[i]
            yield i, name, [to_unit(name, first + j, row) for j, row in enumerate(rows)], piece.last
