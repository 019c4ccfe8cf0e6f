"""The I/O around ``tag``: where articles come from (files, folders, stdin) and how rows are written.

Inputs are read lazily, one file at a time, each bounded by ``corpus.MAX_BYTES``, and every problem
with one input becomes a single line on stderr while the other inputs are still tagged. An
article's name is its path as given (a folder's files as ``FOLDER/NAME.txt``, ``-`` for stdin), so
two inputs never share a name, with bytes that are not UTF-8 shown as U+FFFD. Rows are written as
complete lines, a batch at a time, so an interrupted run leaves complete lines only; the table
format replaces control characters, so no text can drive the terminal.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from karabakh_tagger.corpus import decode, read_limited, read_text, shown
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS
from karabakh_tagger.tag import TaggedUnit

Report = Callable[[str], None]
# One encoder: json.dumps(..., ensure_ascii=False) would build a new one for every row.
_JSON = json.JSONEncoder(ensure_ascii=False)
# Every C0 and C1 control and DEL, and the bidirectional overrides and isolates.
_UNPRINTABLE = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F,
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A)], "\ufffd")
ARTICLE_WIDTH = 22
COLUMNS = ["article", "index", "start", "end", "text", "topic", "topic_score", "stance", "stance_score"]


def iter_articles(inputs: list[str], encoding: str | None, error: Report, warn: Report
                  ) -> Iterator[tuple[str, str]]:
    """``(name, text)`` for every readable input; problems are reported and skipped."""
    for raw in inputs:
        if raw == "-":
            yield from _one("-", lambda: decode(read_limited(sys.stdin.buffer, "stdin"), "stdin", encoding),
                            error, warn, "stdin")
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.txt") if p.is_file())
            if not files:
                warn(f"warning: {shown(raw)}: no *.txt files in this directory")
            for file in files:
                name = shown(os.path.join(raw, file.name))
                yield from _one(name, lambda f=file: read_text(f, encoding), error, warn)
        else:
            yield from _one(shown(raw), lambda p=path: read_text(p, encoding), error, warn)


def _one(name: str, read: Callable[[], str], error: Report, warn: Report,
         label: str | None = None) -> Iterator[tuple[str, str]]:
    try:
        text = read()
    except InputError as err:
        error(f"error: {err}")
        return
    if not text.strip():
        warn(f"warning: {label or name}: empty; no units")
        return
    yield name, text


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences, bell, C1, bidi overrides) replaced by
    U+FFFD, for output that goes to a terminal."""
    return text.translate(_UNPRINTABLE)


@contextlib.contextmanager
def _whole() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a batch is written: a signal in the middle of a big write
    would cut a row in two. The signal is acted on as soon as the batch is out."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _left_cut(name: str, width: int = ARTICLE_WIDTH) -> str:
    """A name cut to ``width`` from the left: the end of a path (the file name) tells most."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _row(unit: TaggedUnit, probs: bool, min_score: float | None) -> dict[str, Any]:
    row = unit.to_dict(probs)
    if min_score is not None:
        row["uncertain"] = unit.topic_score < min_score
    return row


class Writer:
    """Formats tagged units (or per-article summaries) as jsonl, csv or an aligned table."""

    def __init__(self, out: TextIO, fmt: str, probs: bool, min_score: float | None,
                 classes: dict[str, list[str]]) -> None:
        self.out, self.fmt, self.probs, self.min_score = out, fmt, probs, min_score
        self.classes = classes
        self.header_done = False
        self.width = max(40, shutil.get_terminal_size((120, 20)).columns)

    def _emit(self, text: str) -> None:
        with _whole():
            self.out.write(text)
            self.out.flush()

    def units(self, units: list[TaggedUnit]) -> None:
        """Write one batch of units as complete lines."""
        rows = [_row(u, self.probs, self.min_score) for u in units]
        if self.fmt == "jsonl":
            self._emit("".join(_JSON.encode(r) + "\n" for r in rows))
        elif self.fmt == "csv":
            self._csv([self._flat(r) for r in rows], self._columns())
        else:
            self._table(rows)

    def _columns(self) -> list[str]:
        cols = list(COLUMNS)
        if self.probs:
            cols += [f"{t}_p_{c}" for t in TASKS for c in self.classes[t]]
        if self.min_score is not None:
            cols.append("uncertain")
        return cols

    @staticmethod
    def _flat(row: dict[str, Any]) -> dict[str, Any]:
        flat = {k: v for k, v in row.items() if not k.endswith("_probs")}
        for task in TASKS:
            for c, p in (row.get(f"{task}_probs") or {}).items():
                flat[f"{task}_p_{c}"] = p
        return flat

    def _csv(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        if not self.header_done:
            writer.writeheader()
            self.header_done = True
        writer.writerows(rows)
        self._emit(buffer.getvalue())

    def _table(self, rows: list[dict[str, Any]]) -> None:
        text_width = max(20, self.width - 72)
        lines = []
        if not self.header_done:
            lines.append(f"{'article':<22} {'#':>4} {'topic':<24}{'p':>5} {'stance':<10}{'p':>5}  text")
            self.header_done = True
        for r in rows:
            flag = "?" if r.get("uncertain") else " "
            text = textwrap.shorten(printable(" ".join(r["text"].split())), text_width, placeholder="…")
            lines.append(f"{_left_cut(printable(r['article'])):<22} {r['index']:>4} {r['topic']:<24}"
                         f"{r['topic_score']:>5.2f}{flag}{r['stance']:<10}{r['stance_score']:>5.2f}  {text}")
        self._emit("".join(line + "\n" for line in lines))

    def summary(self, article: str, topics: Counter[str], stances: Counter[str]) -> None:
        """Write one article's summary: units per topic and stance, critical vs supportive share."""
        opinionated = stances["critical"] + stances["supportive"]
        row: dict[str, Any] = {
            "article": article, "units": sum(topics.values()),
            "topics": {c: topics[c] for c in self.classes["topic"]},
            "stances": {c: stances[c] for c in self.classes["stance"]},
            "critical_share": round(stances["critical"] / opinionated, 4) if opinionated else None,
            "supportive_share": round(stances["supportive"] / opinionated, 4) if opinionated else None,
        }
        if self.fmt == "jsonl":
            self._emit(json.dumps(row, ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            flat = {k: v for k, v in row.items() if k not in ("topics", "stances")}
            flat |= {f"topic_{c}": n for c, n in row["topics"].items()}
            flat |= {f"stance_{c}": n for c, n in row["stances"].items()}
            self._csv([flat], list(flat))
        else:
            share = ("no critical or supportive units" if not opinionated else
                     f"critical {row['critical_share']:.0%} / supportive {row['supportive_share']:.0%}"
                     " of non-neutral units")
            topics_line = ", ".join(f"{c} {n}" for c, n in topics.most_common())
            stances_line = ", ".join(f"{c} {n}" for c, n in stances.most_common())
            self._emit(f"{printable(article)}: {row['units']} units\n  topics:  {topics_line}\n"
                       f"  stances: {stances_line}\n  {share}\n")


def iter_sentences(path: str, text_column: str, error: Report) -> Iterator[tuple[int, str]]:
    """``(row number, text)`` for each row of a JSON-lines or CSV file (``-``: JSON lines on stdin).

    The format is taken from the suffix (``.csv``, ``.tsv``; anything else is JSON lines). A row
    without a usable text is reported as ``FILE:LINE: ...`` and skipped.
    """
    name = "stdin" if path == "-" else path
    text = (decode(sys.stdin.buffer.read(), "stdin") if path == "-" else read_text(Path(path)))
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        if text_column not in (reader.fieldnames or []):
            raise InputError(f"{name}: no column {text_column!r} (columns: "
                             f"{', '.join(reader.fieldnames or []) or 'none'}; pass --text-column)")
        rows: Iterator[tuple[int, Any]] = ((reader.line_num, r) for r in reader)
    else:
        rows = _json_rows(text, name, error)
    for line, row in rows:
        value = row.get(text_column) if isinstance(row, dict) else None
        if not isinstance(value, str) or not value.strip():
            error(f"error: {name}:{line}: no text in column {text_column!r}")
            continue
        yield line, value


def _json_rows(text: str, name: str, error: Report) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            error(f"error: {name}:{number}: not a JSON object (one object per line)")
