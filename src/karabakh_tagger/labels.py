"""The label scheme (defined here once) and the validator of label files.

The validator reads JSON lines and reports every problem as ``(line, message)``; it never stops
at the first one and never modifies the file. It needs the articles and the segmenter, because a
label row is only valid if its text is the exact slice of its article and the rows cover every
unit of every article exactly once. Nothing here depends on scikit-learn.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from karabakh_tagger.segment import segment

TOPICS: tuple[str, ...] = (
    "ceasefire_terms",
    "peacekeeping_monitoring",
    "turkey_role",
    "foreign_fighters",
    "refugees_humanitarian",
    "diplomacy_negotiations",
    "domestic_politics",
    "conflict_background",
    "other",
)
STANCES: tuple[str, ...] = ("supportive", "critical", "neutral")
TASKS: dict[str, tuple[str, ...]] = {"topic": TOPICS, "stance": STANCES}

UNIT_FIELDS: dict[str, type] = {
    "id": str, "article": str, "index": int, "start": int, "end": int, "text": str,
    "topic": str, "stance": str,
}
AUTHORED_FIELDS: dict[str, type] = {"id": str, "batch": str, "text": str, "topic": str, "stance": str,
                                    "source": str, "note": str}
DRAFT_FIELDS: dict[str, type] = {
    **UNIT_FIELDS, "topic_score": float, "stance_score": float, "model_version": str, "status": str,
}
OPTIONAL_FIELDS: dict[str, type] = {"note": str}
STATUSES = ("draft", "reviewed")
NEUTRAL_ONLY = ("other",)
"""Topics whose units carry no view of the arrangement: only ``neutral`` goes with them."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a label file, with the 1-based line it was found on."""

    line: int
    message: str


def normalise(text: str) -> str:
    """Key under which two copies of one sentence compare equal (case, quotes, spaces, punctuation)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def parse_lines(lines: Iterable[str]) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """Parse JSON lines into ``(line, row)`` pairs, with a problem for each unusable line."""
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    seen_any = False
    for number, raw in enumerate(lines, start=1):
        seen_any = True
        if not raw.strip():
            problems.append(Problem(number, "blank line (remove it)"))
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            problems.append(Problem(number, f"invalid JSON: {err.msg} (column {err.colno}) "
                                            "(write one JSON object per line)"))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(number, "not a JSON object (write one object per line)"))
            continue
        rows.append((number, row))
    if not seen_any:
        problems.append(Problem(1, "file is empty (expected one JSON object per line)"))
    return rows, problems


def check_fields(row: dict[str, Any], fields: dict[str, type]) -> list[str]:
    """Messages for missing, mistyped, unknown fields and unknown label names of one row."""
    messages = []
    for name, kind in fields.items():
        value = row.get(name)
        if name not in row:
            messages.append(f"missing field {name!r} (add it)")
        elif not isinstance(value, (int, float) if kind is float else kind) or isinstance(value, bool):
            messages.append(f"field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    allowed = fields.keys() | OPTIONAL_FIELDS.keys()
    messages += [f"unknown field {k!r} (allowed: {', '.join(sorted(allowed))})"
                 for k in row if k not in allowed]
    for task, names in TASKS.items():
        value = row.get(task)
        if isinstance(value, str) and value not in names:
            close = difflib.get_close_matches(value, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(names)}"
            messages.append(f"unknown {task} {value!r} ({hint})")
    if row.get("topic") in NEUTRAL_ONLY and row.get("stance") in STANCES and row["stance"] != "neutral":
        messages.append(f"topic {row['topic']!r} is always neutral, got stance {row['stance']!r}")
    return messages


def check_slice(row: dict[str, Any], articles: dict[str, str]) -> list[str]:
    """Messages for a row whose id, article or offsets do not match the article text."""
    article, start, end = row["article"], row["start"], row["end"]
    if article not in articles:
        return [f"unknown article {article!r} (no data/articles/{article}.txt)"]
    messages = []
    expected_id = f"{article}-{row['index']:03d}"
    if row["id"] != expected_id:
        messages.append(f"id {row['id']!r} does not match article and index (use {expected_id!r})")
    text = articles[article]
    if not 0 <= start < end <= len(text):
        messages.append(f"offsets {start}:{end} outside the article (length {len(text)})")
    elif text[start:end] != row["text"]:
        messages.append(f"text is not the article slice at {start}:{end} "
                        f"(the slice reads {text[start:end][:60]!r})")
    return messages


def _check_coverage(rows: list[tuple[int, dict[str, Any]]], articles: dict[str, str],
                    last_line: int, report_missing: bool) -> list[Problem]:
    """Problems for rows that are not units, and for units that no row covers (or several do)."""
    problems = []
    by_span: dict[tuple[str, int, int], list[int]] = defaultdict(list)
    for line, row in rows:
        by_span[(row["article"], row["start"], row["end"])].append(line)
    expected: list[tuple[str, int, int, int]] = []  # article, index, start, end in reading order
    for article, text in articles.items():
        expected += [(article, u.index, u.start, u.end) for u in segment(text)]
    units = {(a, s, e): i for a, i, s, e in expected}
    for line, row in rows:
        key = (row["article"], row["start"], row["end"])
        if row["article"] in articles and key not in units:
            problems.append(Problem(line, f"offsets {key[1]}:{key[2]} are not a unit of the "
                                          "segmenter (re-segment the article)"))
        elif key in units and units[key] != row["index"]:
            problems.append(Problem(line, f"index {row['index']} should be {units[key]}"))
    for position, (article, index, start, end) in enumerate(expected):
        lines = by_span.get((article, start, end), [])
        if len(lines) > 1:
            problems += [Problem(n, f"unit {article}-{index:03d} is labelled {len(lines)} times "
                                    f"(lines {', '.join(map(str, lines))}; keep one)")
                         for n in lines[1:]]
        if not lines and report_missing:
            later = [by_span[(a, s, e)][0] for a, _, s, e in expected[position + 1:]
                     if (a, s, e) in by_span]
            problems.append(Problem(later[0] if later else last_line + 1,
                                    f"unit {article}-{index:03d} at {start}:{end} is missing "
                                    f"(add a row for {articles[article][start:end][:50]!r})"))
    return problems


def check_repeats(rows: list[tuple[int, dict[str, Any]]]) -> list[Problem]:
    """Problems for copies of one sentence (same normalised text) that carry different labels."""
    first: dict[str, tuple[int, dict[str, Any]]] = {}
    problems = []
    for line, row in rows:
        key = normalise(row["text"])
        if key in first:
            other_line, other = first[key]
            for task in TASKS:
                if row[task] != other[task]:
                    problems.append(Problem(line, f"{task} {row[task]!r} differs from line "
                                                  f"{other_line} ({other[task]!r}) for the same "
                                                  "sentence (give both the same label)"))
        else:
            first[key] = (line, row)
    return problems


def check_ids(rows: list[tuple[int, dict[str, Any]]]) -> list[Problem]:
    """Problems for ids used more than once."""
    seen: dict[str, int] = {}
    problems = []
    for line, row in rows:
        if row["id"] in seen:
            problems.append(Problem(line, f"duplicate id {row['id']!r} (first on line "
                                          f"{seen[row['id']]}; ids must be unique)"))
        else:
            seen[row["id"]] = line
    return problems


Row = tuple[int, dict[str, Any]]


def check_rows(parsed: list[Row], checks: Iterable[Callable[[dict[str, Any]], list[str]]]
               ) -> tuple[list[Row], list[Problem]]:
    """Run each check on each row until one finds something; returns the clean rows and problems."""
    checks = list(checks)
    good: list[Row] = []
    problems: list[Problem] = []
    for line, row in parsed:
        messages: list[str] = []
        for check in checks:
            messages = check(row)
            if messages:
                break
        problems += [Problem(line, m) for m in messages]
        if not messages:
            good.append((line, row))
    return good, problems


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A problem found in one of several files."""

    path: str
    line: int
    message: str


def validate_authored(files: dict[str, list[str]], corpus_rows: list[dict[str, Any]]
                      ) -> tuple[list[dict[str, Any]], list[FileProblem]]:
    """Validate the batch files of composed sentences together, against the corpus units.

    Each file is one batch: every row has all of ``AUTHORED_FIELDS`` (the ``note`` says which rule
    of the guideline gives the label), ``source == "authored"`` and ``batch`` equal to the file's
    name without ``.jsonl``. Across the folder: no duplicate id, no two rows with the same
    normalised text, no row that repeats a corpus unit, and no pair of rows (or row and corpus unit)
    whose word TF-IDF cosine reaches ``similarity.NEAR_DUPLICATE_COSINE``: such a pair shares a frame.
    """
    from karabakh_tagger.similarity import NEAR_DUPLICATE_COSINE, tfidf_cosine_pairs

    problems: list[FileProblem] = []
    good: list[tuple[str, int, dict[str, Any]]] = []
    corpus = {normalise(r["text"]): r["id"] for r in corpus_rows}
    for path, lines in files.items():
        batch = path.rsplit("/", 1)[-1].removesuffix(".jsonl")

        def authored(row: dict[str, Any], batch: str = batch) -> list[str]:
            if row["source"] != "authored":
                return [f"source must be 'authored', got {row['source']!r}"]
            if row["batch"] != batch:
                return [f"batch {row['batch']!r} differs from the file's name ({batch!r}); "
                        "one file per batch"]
            if not row["text"].strip() or not row["note"].strip():
                return ["empty text or note (the note names the guideline rule behind the label)"]
            if normalise(row["text"]) in corpus:
                return [f"text repeats corpus unit {corpus[normalise(row['text'])]} (composed rows "
                        "must be new sentences)"]
            return []

        parsed, found = parse_lines(lines)
        rows, more = check_rows(parsed, [lambda r: check_fields(r, AUTHORED_FIELDS), authored])
        problems += [FileProblem(path, p.line, p.message) for p in found + more]
        good += [(path, line, row) for line, row in rows]
    seen_id: dict[str, tuple[str, int]] = {}
    seen_text: dict[str, tuple[str, int]] = {}
    for path, line, row in good:
        for key, seen, what in ((row["id"], seen_id, "id"), (normalise(row["text"]), seen_text, "text")):
            if key in seen:
                first = seen[key]
                problems.append(FileProblem(path, line, f"duplicate {what} (first at {first[0]}:"
                                                        f"{first[1]}; {what}s must be unique)"))
            else:
                seen[key] = (path, line)
    texts = [row["text"] for _, _, row in good]
    for i, j, cosine in tfidf_cosine_pairs(texts):
        problems.append(FileProblem(good[j][0], good[j][1], f"near-duplicate of {good[i][0]}:{good[i][1]} "
                                    f"(word TF-IDF cosine {cosine:.2f} >= {NEAR_DUPLICATE_COSINE}): "
                                    "write a sentence of another frame"))
    corpus_texts = [r["text"] for r in corpus_rows]
    for i, j, cosine in tfidf_cosine_pairs(texts, corpus_texts):
        problems.append(FileProblem(good[i][0], good[i][1], f"near-duplicate of corpus unit "
                                    f"{corpus_rows[j]['id']} (cosine {cosine:.2f}): composed rows "
                                    "must not repeat or paraphrase news text"))
    problems.sort(key=lambda p: (p.path, p.line))
    return [row for _, _, row in good], problems


def validate_units(lines: Iterable[str], articles: dict[str, str]
                   ) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Validate a corpus label file: returns the rows and every problem found, sorted by line."""
    parsed, problems = parse_lines(lines)
    good, found = check_rows(parsed, [lambda r: check_fields(r, UNIT_FIELDS),
                                      lambda r: check_slice(r, articles)])
    problems += found
    last_line = max((line for line, _ in parsed), default=0)
    # A row that could not be read leaves its unit uncovered: say so once, not twice.
    report_missing = not problems and len(good) == len(parsed)
    problems += check_ids(good) + check_repeats(good)
    problems += _check_coverage(good, articles, last_line, report_missing)
    return [row for _, row in good], sorted(problems, key=lambda p: p.line)


def label_counts(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Count of rows per label, per task, in scheme order."""
    return {task: Counter({name: sum(r[task] == name for r in rows) for name in names})
            for task, names in TASKS.items()}
