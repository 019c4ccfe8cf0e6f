"""Split an article's raw text into units (headlines, boilerplate lines, sentences) with offsets.

Labelling and inference share this module, so a unit seen at tagging time is cut exactly like
the units the model was trained on. It knows nothing of scikit-learn.

Rules, in order:
1. Lines are never merged across a blank line, and every non-empty line is its own block, so
   headlines, "Read more", bylines and navigation lines become units of their own.  The one
   exception is hard-wrapped prose: a line that does not end a sentence (closing quotes and
   brackets after the final word do not count as an end), followed directly by a line that
   starts in lower case (after any opening quote or bracket), continues the same block.
2. Each block is split into sentences by blingfire (chosen by measurement, see
   docs/segmentation.md).
3. Leading bullets and surrounding white space (including non-breaking spaces) are trimmed;
   a piece with no letter or digit (a lone "." or "•") is not a unit.
4. A sentence longer than ``max_chars`` is cut at white space into pieces of at most that
   length, so a megabyte of unpunctuated text cannot produce one giant unit.
5. A block longer than ``MAX_WINDOW_CHARS`` (a hard-wrapped book, a file with no line breaks) is
   first cut into windows at the last white space before that length, counted from the block's
   start; each window is split on its own. The cut depends on the text alone, so every command
   (validate, accept, tag with any ``--jobs``) sees the same units: tagging cuts work at window
   boundaries (``windows``) and segments each piece with ``units_in``, exactly as ``segment`` does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_UNIT_CHARS = 1000
"""Longest unit the segmenter emits; no corpus sentence comes near it (the longest is ~450)."""
MAX_WINDOW_CHARS = 50_000
"""Longest stretch handed to the sentence splitter at once; no article paragraph comes near it."""

SpanSplitter = Callable[[str], list[tuple[int, int]]]

_LINE = re.compile(r"[^\r\n]+")
_SENTENCE_END = tuple(".!?:;…")
_CLOSERS = "\"'”’)»"
_OPENERS = "\"'“‘(«"
# Dashes, asterisks and middle dots are bullets only before white space ("- item", not "-5");
# bullet glyphs are bullets even when glued to the text ("•item").
_BULLET = re.compile(r"(?:[•‣◦▪●■►][•·‣◦▪●■►\-*–—]*|[·\-*–—][•·‣◦▪●■►\-*–—]*(?=\s))\s*")


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of an article: ``text == article[start:end]``."""

    index: int
    start: int
    end: int
    text: str


def blingfire_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` by blingfire (character offsets into ``text``).

    Calls blingfire's C function directly: its Python wrapper maps UTF-8 byte offsets back to
    characters one byte at a time, which took two thirds of the segmenter's time. Here ASCII
    text needs no mapping and other text is mapped with one numpy pass.
    """
    import ctypes

    import blingfire
    import numpy as np

    if not text.strip():
        return []
    data = text.encode("utf-8")
    size = 2 * len(data)
    out, starts, ends = _buffers(size)
    found = blingfire.blingfire.TextToSentencesWithOffsets(
        ctypes.c_char_p(data), ctypes.c_int(len(data)), ctypes.byref(out), ctypes.byref(starts),
        ctypes.byref(ends), ctypes.c_int(size))
    if found < 0 or found > size:  # blingfire refused: fall back to its own wrapper
        return [(int(a), int(b)) for a, b in blingfire.text_to_sentences_and_offsets(text)[1]]
    count = ctypes.string_at(out, found).count(b"\n") + 1  # found counts the final NUL
    first, last = starts[:count], ends[:count]  # last: index of each sentence's last byte
    if len(data) != len(text):
        char_of_byte = np.cumsum((np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80) - 1
        first, last = char_of_byte[first].tolist(), char_of_byte[last].tolist()
    return [(a, b + 1) for a, b in zip(first, last, strict=True)]


_LOCAL = threading.local()


def _buffers(size: int) -> tuple[Any, Any, Any]:
    """Output buffers for blingfire, reused across calls (allocating them was half its cost);
    one set per thread, so concurrent callers never share them."""
    import ctypes

    buffers = getattr(_LOCAL, "buffers", None)
    if buffers is None or len(buffers[0]) < size:
        size = max(size, 1 << 16)
        buffers = (ctypes.create_string_buffer(size), (ctypes.c_int32 * size)(),
                   (ctypes.c_int32 * size)())
        _LOCAL.buffers = buffers
    return buffers


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each block: a non-empty line, or wrapped lines of one paragraph."""
    block: tuple[int, int] | None = None
    prev_line_end = -1
    for match in _LINE.finditer(text):
        line = match.group()
        if not line.strip():
            continue
        start, end = match.span()
        adjacent = prev_line_end >= 0 and text[prev_line_end:start].count("\n") <= 1
        if block and adjacent and _continues(text[block[0] : block[1]], line):
            block = (block[0], end)
        else:
            if block:
                yield block
            block = (start, end)
        prev_line_end = end
    if block:
        yield block


def _continues(previous: str, line: str) -> bool:
    """True when ``line`` is the hard-wrapped continuation of ``previous``."""
    first = line.lstrip().lstrip(_OPENERS)[:1]
    ended = previous.rstrip().rstrip(_CLOSERS).endswith(_SENTENCE_END)
    return bool(first) and first.islower() and not ended


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a span past white space and leading bullets."""
    while start < end and text[start].isspace():
        start += 1
    bullet = _BULLET.match(text, start, end)
    if bullet:
        start = bullet.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cap(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long span at white space into pieces of at most ``max_chars``."""
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def windows(text: str, max_window: int = MAX_WINDOW_CHARS) -> Iterator[tuple[int, int]]:
    """The (start, end) stretches that are split into sentences independently: each block, with a
    block longer than ``max_window`` cut at the last white space before that length (rule 5)."""
    for start, end in _blocks(text):
        while end - start > max_window:
            cut = max(text.rfind(" ", start + max_window // 2, start + max_window),
                      text.rfind("\n", start + max_window // 2, start + max_window))
            cut = cut if cut > start else start + max_window
            yield start, cut
            start = cut
        yield start, end


def units_in(text: str, spans: Iterable[tuple[int, int]], split: SpanSplitter = blingfire_spans,
             max_chars: int = MAX_UNIT_CHARS) -> list[Unit]:
    """Units of the given windows of ``text`` (from :func:`windows`), indexed from 0."""
    units: list[Unit] = []
    for block_start, block_end in spans:
        # Line breaks inside a wrapped block become spaces of the same length, keeping offsets.
        block = re.sub(r"[\r\n]", " ", text[block_start:block_end])
        for a, b in split(block):
            start, end = _trim(text, block_start + a, block_start + b)
            for s, e in _cap(text, start, end, max_chars):
                s, e = _trim(text, s, e)
                if any(ch.isalnum() for ch in text[s:e]):
                    units.append(Unit(len(units), s, e, text[s:e]))
    return units


def segment(
    text: str, split: SpanSplitter = blingfire_spans, max_chars: int = MAX_UNIT_CHARS
) -> list[Unit]:
    """Units of ``text`` in reading order, with offsets into ``text`` itself."""
    return units_in(text, windows(text), split, max_chars)
