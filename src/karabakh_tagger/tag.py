"""Inference: split articles into units and tag each with a topic and a stance.

Needs only the segmenter and a :class:`~karabakh_tagger.scorers.Scorer` loaded by
``artifacts.load`` (never ``train`` or ``evaluate``, never scikit-learn for the baseline's numpy
export). Work is cut into pieces of whole segmenter windows (``segment.windows``), at most about
``CHUNK_CHARS`` characters each: long articles are split, short ones grouped, so memory stays flat
however large the input, each scoring call is big enough to be efficient, and ``--jobs N`` can
spread one huge file over several cores while the units stay exactly those of ``segment``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS
from karabakh_tagger.scorers import Scorer
from karabakh_tagger.segment import units_in, windows

if TYPE_CHECKING:
    from karabakh_tagger.artifacts import Manifest

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
class Prediction:
    """Topic and stance of one sentence given as is (``Tagger.classify``: no segmentation)."""

    text: str
    topic: str
    topic_score: float
    stance: str
    stance_score: float
    topic_probs: dict[str, float] | None = None
    stance_probs: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Piece:
    """Whole segmenter windows of one article: ``text`` is the article from offset ``base``, and
    ``spans`` are the windows, relative to ``text``."""

    position: int  # the article's position among the inputs
    base: int
    text: str
    spans: tuple[tuple[int, int], ...]
    last: bool  # the article's final piece


@dataclass(frozen=True, slots=True)
class Scored:
    """One unit of a piece with its scores, as it travels back from a worker."""

    start: int
    end: int
    text: str
    topic: str
    topic_score: float
    stance: str
    stance_score: float
    topic_probs: dict[str, float] | None
    stance_probs: dict[str, float] | None


def split_article(position: int, text: str, chunk_chars: int = CHUNK_CHARS) -> Iterator[Piece]:
    """Cut an article into pieces of whole windows, each of about ``chunk_chars`` or fewer."""
    spans: list[tuple[int, int]] = []
    for start, end in windows(text):
        if spans and end - spans[0][0] > chunk_chars:
            yield _piece(position, text, spans, last=False)
            spans = []
        spans.append((start, end))
    yield _piece(position, text, spans, last=True)


def _piece(position: int, text: str, spans: list[tuple[int, int]], last: bool) -> Piece:
    if not spans:
        return Piece(position, 0, "", (), last)
    base, end = spans[0][0], spans[-1][1]
    return Piece(position, base, text[base:end], tuple((a - base, b - base) for a, b in spans), last)


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


def _check_texts(texts: Any, what: str) -> list[str]:
    if isinstance(texts, str | bytes):
        raise TypeError(f"{what} takes a list of strings, not a single {type(texts).__name__} "
                        "(wrap it in a list)")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"{what} takes strings, got {type(text).__name__}")
    return texts


class Tagger:
    """Tags text with one model's scorer; ``model`` names the family, ``manifest`` its folder."""

    def __init__(self, scorer: Scorer, manifest: Manifest | None = None, model: str = "baseline") -> None:
        self.scorer = scorer
        self.manifest = manifest
        self.model = model
        self.classes = {task: list(scorer.classes[task]) for task in TASKS}

    def _score(self, texts: list[str], probs: bool) -> list[tuple[str, float, str, float, Any, Any]]:
        scores = self.scorer.predict_proba(texts)
        out = []
        for k in range(len(texts)):
            t, s = int(scores["topic"][k].argmax()), int(scores["stance"][k].argmax())
            out.append((self.classes["topic"][t], round(float(scores["topic"][k, t]), 4),
                        self.classes["stance"][s], round(float(scores["stance"][k, s]), 4),
                        self._probs("topic", scores["topic"][k]) if probs else None,
                        self._probs("stance", scores["stance"][k]) if probs else None))
        return out

    def _probs(self, task: str, row: Any) -> dict[str, float]:
        return {c: round(float(p), 4) for c, p in zip(self.classes[task], row, strict=True)}

    def tag_batch(self, batch: list[Piece], probs: bool = False) -> list[tuple[Piece, list[Scored]]]:
        """Segment every piece of a batch and tag all their units with one scoring call."""
        units = [units_in(piece.text, piece.spans) for piece in batch]
        texts = [unit.text for found in units for unit in found]
        scored = iter(self._score(texts, probs)) if texts else iter(())
        return [(piece, [Scored(piece.base + u.start, piece.base + u.end, u.text, *next(scored))
                         for u in found]) for piece, found in zip(batch, units, strict=True)]

    def tag(self, text: str, article: str = "text", probs: bool = False) -> list[TaggedUnit]:
        """Tag one article's text."""
        if not isinstance(text, str):
            raise TypeError(f"tag() takes the article's text as a str, got {type(text).__name__}")
        return self.tag_many([text], [article], probs=probs)[0]

    def tag_many(self, texts: Iterable[str], names: Iterable[str] | None = None,
                 probs: bool = False) -> list[list[TaggedUnit]]:
        """Tag several articles, batched together; one list of units per text, in order."""
        texts = _check_texts(texts, "tag_many()")
        names = list(names) if names is not None else [f"text{i}" for i in range(len(texts))]
        out: list[list[TaggedUnit]] = [[] for _ in texts]
        for position, _, units, _ in stream(self, zip(names, texts, strict=True), probs=probs):
            out[position].extend(units)
        return out

    def classify(self, sentences: Iterable[str], probs: bool = False,
                 batch_size: int = 1024) -> list[Prediction]:
        """Topic and stance of each sentence as given (no segmentation), in order."""
        sentences = _check_texts(sentences, "classify()")
        out = []
        for k in range(0, len(sentences), batch_size):
            chunk = sentences[k:k + batch_size]
            out += [Prediction(text, *scores) for text, scores in zip(chunk, self._score(chunk, probs),
                                                                       strict=True)]
        return out


def to_unit(article: str, index: int, unit: Scored) -> TaggedUnit:
    """The TaggedUnit of a scored unit."""
    return TaggedUnit(article, index, unit.start, unit.end, unit.text, unit.topic, unit.topic_score,
                      unit.stance, unit.stance_score, unit.topic_probs, unit.stance_probs)


def load_tagger(models_dir: str | Path = "models", model: str = "auto",
                warn: Callable[[str], None] = lambda m: None, device: str = "cpu") -> Tagger:
    """A Tagger from a model folder written by ``make train``, every file checked as it is read.

    ``model`` is "auto" (the recommended model when it is trained, else the baseline), or a family;
    ``device`` "cuda" runs the encoder on a GPU where onnxruntime has one.
    """
    from karabakh_tagger import artifacts

    loaded = artifacts.load(models_dir, model, warn, device)
    return Tagger(loaded.scorer, loaded.manifest, loaded.model)


# --- worker processes --------------------------------------------------------------------------

class WorkerDied(InputError):
    """A worker process stopped without being asked to (killed from outside, out of memory): not a
    bug of the input, but an expected problem all the same, reported in one line."""


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _worker(tagger: Tagger, conn: Any) -> None:
    """One worker: tag the batches it is sent, one at a time, until it is sent None or the pipe closes.

    It ignores Ctrl-C (the parent alone handles it and stops the workers) and dies at once on
    SIGTERM; both were blocked across the fork, so no signal reaches it before this is set.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(tagger.tag_batch(*job))


def _ordered_map(tagger: Tagger, jobs_iter: Iterable[tuple[list[Piece], bool]], jobs: int
                 ) -> Iterator[list[tuple[Piece, list[Scored]]]]:
    """``tag_batch`` over the jobs, in order, on ``jobs`` forked processes.

    Each worker has its own pipe and at most one job at a time, and job k goes to worker k mod
    ``jobs``: the results come back in order, only ``jobs`` batches are ever in flight (a
    generator of a million articles is read as the results are consumed), and the tagger is the
    workers' argument, so two streams in two threads never share one. No lock is shared between
    the processes (``multiprocessing.Pool`` shares its queue's lock and hangs for good when a
    worker dies holding it), so on any exit, Ctrl-C and SIGTERM included, the workers are
    killed and joined and nothing can hang.
    """
    if jobs <= 1:
        yield from (tagger.tag_batch(*job) for job in jobs_iter)
        return
    import multiprocessing
    from collections import deque

    context = multiprocessing.get_context("fork")
    workers: list[tuple[Any, Any]] = []
    done = False
    try:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for _ in range(jobs):
                mine, theirs = context.Pipe()
                process = context.Process(target=_worker, args=(tagger, theirs), daemon=True)
                process.start()
                workers.append((process, mine))
                theirs.close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a signal that came meanwhile lands now
        source = iter(jobs_iter)
        busy: deque[tuple[Any, Any]] = deque()
        for worker in workers:
            if not _send_next(source, worker, busy):
                break
        while busy:
            worker = busy.popleft()
            result = _receive(*worker)
            _send_next(source, worker, busy)
            yield result
        done = True
    finally:
        for process, conn in workers:
            if done:
                with contextlib.suppress(OSError):
                    conn.send(None)
            else:
                process.kill()
            conn.close()
        for process, _ in workers:
            process.join()


def _send_next(source: Iterator[Any], worker: tuple[Any, Any], busy: Any) -> bool:
    """Give the worker the next job, if there is one; False when there is none."""
    job = next(source, None)
    if job is None:
        return False
    process, conn = worker
    try:
        conn.send(job)
    except (EOFError, OSError):  # not a BrokenPipeError of stdout: the worker is gone
        raise _died(process) from None
    busy.append(worker)
    return True


def _receive(process: Any, conn: Any) -> Any:
    try:
        return conn.recv()
    except (EOFError, OSError):
        raise _died(process) from None


def _died(process: Any) -> WorkerDied:
    process.join(5)
    code = process.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            code = signal.Signals(-code).name
        how = f"was killed by {code}"
    else:
        how = f"stopped (exit code {code})"
    return WorkerDied(f"a tagging process {how}; the rows written so far are complete")


def stream(tagger: Tagger, articles: Iterable[tuple[str, str]], jobs: int = 1,
           probs: bool = False) -> Iterator[tuple[int, str, list[TaggedUnit], bool]]:
    """Tag ``(name, text)`` articles as they come: yields ``(position, name, units, is_last)``.

    Articles are read lazily from ``articles`` and results come back in input order, a batch
    at a time; unit indices run on across the pieces of a long article.
    """
    counts: dict[int, int] = {}  # units emitted so far, per article still in flight
    titles: dict[int, str] = {}

    def pieces() -> Iterator[Piece]:
        for i, (name, text) in enumerate(articles):
            counts[i], titles[i] = 0, name
            yield from split_article(i, text)

    jobs_iter = ((batch, probs) for batch in batches(pieces()))
    for result in _ordered_map(tagger, jobs_iter, jobs):
        for piece, scored in result:
            i = piece.position
            first, name = counts[i], titles[i]
            counts[i] += len(scored)
            if piece.last:
                del counts[i], titles[i]
            yield i, name, [to_unit(name, first + j, u) for j, u in enumerate(scored)], piece.last


def cpu_count() -> int:
    """CPUs this process may use (the upper bound of ``--jobs``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
