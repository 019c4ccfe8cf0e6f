"""Model-assisted annotation: draft labels for new articles, the review rules shared by the
annotation tools, and accepting reviewed rows into ``labels/sentences.jsonl``.

The loop: ``annotate`` copies each new article into the article folder under a stable id and
writes draft rows with the model's labels; a reviewer corrects them (in an editor, or in Label
Studio or doccano, see :mod:`karabakh_tagger.label_studio` and :mod:`karabakh_tagger.doccano`) and
sets ``status`` to ``reviewed``; ``accept`` checks every row and merges all or nothing.

What "reviewed" means is decided here once, for every tool (:func:`settle`): a row is reviewed
only when the people who annotated it chose exactly one value of each task and agree. A missing
value is never filled from the model and several values are never reduced to one: such a row
stays ``draft``, the task left empty, with a ``draft_reason`` that says why.

Writers of the article folder and of the label file take an exclusive lock beside it
(:func:`locked`) for the whole read-modify-write, so two runs at once never lose rows or give two
articles one id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from karabakh_tagger.corpus import decode, read_bytes, shown
from karabakh_tagger.errors import InputError
from karabakh_tagger.files import WriteError, atomic_write
from karabakh_tagger.labels import (
    DRAFT_FIELDS,
    OPTIONAL_FIELDS,
    STATUSES,
    TASKS,
    UNIT_FIELDS,
    Problem,
    check_fields,
    check_ids,
    check_repeats,
    check_rows,
    check_slice,
    normalise,
    parse_lines,
    validate_units,
)
from karabakh_tagger.segment import segment

if TYPE_CHECKING:
    from karabakh_tagger.tag import TaggedUnit

TOOLS = ("label-studio", "doccano")
DRAFT_REASON = "draft_reason"
"""Draft-only field: why a row that came back from a tool is still a draft (dropped on merge)."""
LOCK_WAIT_SECONDS = 60.0
"""How long a writer waits for another run's lock before it gives up and changes nothing."""
ROW_ORDER = (*DRAFT_FIELDS, DRAFT_REASON, *OPTIONAL_FIELDS)
_ARTICLE_ID = re.compile(r"^(\d{3,})_[0-9a-f]{16}$")


# --- locks --------------------------------------------------------------------------------------

def lock_path(path: Path) -> Path:
    """The lock file of a label file or an article folder: a hidden file beside it."""
    return path.parent / f".{path.name}.lock"


@contextmanager
def locked(path: Path, wait: float = LOCK_WAIT_SECONDS,
           say: Callable[[str], None] = lambda m: None) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (a label file or the article folder) inside the block.

    Another run that holds it is waited for up to ``wait`` seconds (saying so once), then the
    caller gets an InputError and must change nothing.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            say(f"{path}: another karabakh-tagger run is changing it; waiting up to {wait:g} s")
            lock.acquire(timeout=wait)
    except Timeout:
        raise InputError(f"{path}: still locked by another run after {wait:g} s (lock file "
                         f"{lock_path(path)}); nothing was changed, try again") from None
    except OSError as err:
        raise InputError(f"{path}: cannot take the lock {lock_path(path)} ({err.strerror})") from None
    try:
        yield
    finally:
        lock.release()


# --- new articles ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Article:
    """A new article as read from the user's file: its exact bytes and their text."""

    source: Path
    data: bytes
    text: str


def read_article(source: Path) -> Article:
    """Read a new article once; the bytes are what is copied, their text what is tagged."""
    data = read_bytes(source)
    text = decode(data, shown(source))
    if not text.strip():
        raise InputError(f"{source}: empty; nothing to annotate")
    return Article(source, data, text)


def article_id(data: bytes, articles_dir: Path) -> str:
    """The stable id of an article: ``NNN_<first 16 hex of sha256>``, reusing an existing copy.

    Call it under :func:`locked` on the folder: the next number is only free until someone
    else writes a copy.
    """
    digest = hashlib.sha256(data).hexdigest()[:16]
    numbers = []
    for path in sorted(articles_dir.glob("*.txt")):
        if path.stem.endswith(digest):
            return path.stem
        match = _ARTICLE_ID.match(path.stem)
        if match:
            numbers.append(int(match.group(1)))
    return f"{max(numbers, default=-1) + 1:03d}_{digest}"


def add_articles(articles: Sequence[Article], articles_dir: Path, then: Callable[[list[str]], None],
                 wait: float = LOCK_WAIT_SECONDS, say: Callable[[str], None] = lambda m: None) -> list[str]:
    """Copy the articles byte for byte into the folder, then call ``then(ids)``, under its lock.

    Ids are allocated and copies written (by temp file and rename) while the lock is held, so
    two runs never give two articles one number. If a copy or ``then`` (writing the draft)
    fails, the copies made by this call are removed again: all or nothing.
    """
    if not articles_dir.is_dir():
        raise InputError(f"{articles_dir}: no such folder (pass --articles)")
    idents: list[str] = []
    made: list[Path] = []
    with locked(articles_dir, wait, say):
        try:
            for article in articles:
                ident = article_id(article.data, articles_dir)
                target = articles_dir / f"{ident}.txt"
                if not target.exists():
                    try:
                        atomic_write(target, lambda tmp, data=article.data: tmp.write_bytes(data))
                    except (OSError, WriteError) as err:
                        cause = err.cause if isinstance(err, WriteError) else err.strerror
                        raise InputError(f"{target}: cannot write the copy of {article.source} "
                                         f"({cause}); nothing was written") from None
                    made.append(target)
                idents.append(ident)
            then(idents)
        except BaseException:
            for path in made:
                path.unlink(missing_ok=True)
            raise
    return idents


def draft_rows(units: Sequence[TaggedUnit], ident: str, model_version: str) -> list[dict[str, Any]]:
    """Draft label rows for the tagged units of one article, with the model's labels and scores."""
    return [{"id": f"{ident}-{unit.index:03d}", "article": ident, "index": unit.index,
             "start": unit.start, "end": unit.end, "text": unit.text,
             "topic": unit.topic, "stance": unit.stance,
             "topic_score": unit.topic_score, "stance_score": unit.stance_score,
             "model_version": model_version, "status": "draft"} for unit in units]


def model_version(tagger: Any) -> str:
    """A short name for the model that made a draft: family, creation time and a file hash."""
    return tagger.manifest.version_name(tagger.model) if tagger.manifest else tagger.model


def sort_uncertain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Least confident first (the lower of the two scores), so reviewers start where it matters."""
    return sorted(rows, key=lambda r: min(r["topic_score"], r["stance_score"]))


# --- what the tools share ---------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """One thing said about an input: ``where`` is a line, a task or a file member."""

    where: str
    message: str


@dataclass
class Imported:
    """What an export gave: draft rows, problems (nothing may be written) and notes."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Vote:
    """What one person chose for one unit: the values per task, and any label outside them."""

    who: str
    choices: dict[str, list[str]]
    other: tuple[str, ...] = ()


DRAFT_TYPES: dict[str, type] = {name: kind for name, kind in DRAFT_FIELDS.items() if name != "status"}
"""The fields (and types) a tool must hand back unchanged for a row to be rebuilt."""


def type_problems(row: Any, fields: dict[str, type] = DRAFT_TYPES) -> list[str]:
    """Messages for a row that is not an object, or lacks a field, or has one of the wrong type."""
    if not isinstance(row, dict):
        return [f"expected an object, got {_kind(row)}"]
    messages = []
    for name, kind in fields.items():
        value = row.get(name)
        ok = isinstance(value, (int, float) if kind is float else kind) and not isinstance(value, bool)
        if name not in row:
            messages.append(f"missing field {name!r}")
        elif not ok:
            messages.append(f"field {name!r} must be {kind.__name__}, got {_kind(value)}")
    return messages


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__)


def string_list(value: Any, what: str) -> tuple[list[str], str | None]:
    """``value`` as a list of strings, or a message saying what it was instead."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value), None
    return [], f"{what} must be a list of strings, got {_kind(value)}"


def draft_row(row: dict[str, Any]) -> dict[str, Any]:
    """The known fields of a row in the documented order (nothing else travels back)."""
    return {name: row[name] for name in ROW_ORDER if name in row}


def unreviewed(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """The row as the model drafted it, still a draft, saying why nobody reviewed it."""
    return draft_row({**row, "status": "draft", DRAFT_REASON: reason})


def settle(row: dict[str, Any], votes: Sequence[Vote], tool: str) -> dict[str, Any]:
    """The draft row for one unit from what people chose in ``tool``.

    Reviewed only if every vote has exactly one value per task, the votes agree and no label
    lies outside the tasks; otherwise a draft whose unsettled tasks are empty ("" never passes
    ``accept``) and whose ``draft_reason`` names the task, the values and who chose them.
    """
    if not votes:
        return unreviewed(row, f"not reviewed in {tool}")
    out = {**row, "status": "reviewed"}
    out.pop(DRAFT_REASON, None)
    reasons = [f"label {label!r} is not of the scheme ({vote.who}; use topic:NAME and stance:NAME)"
               for vote in votes for label in vote.other]
    for task in TASKS:
        reason = _unsettled(task, votes, tool)
        if reason:
            reasons.append(reason)
            out[task] = ""
        else:
            out[task] = votes[0].choices[task][0]
    if reasons:
        out.update(status="draft", draft_reason="; ".join(reasons))
    return draft_row(out)


def _unsettled(task: str, votes: Sequence[Vote], tool: str) -> str | None:
    """Why the votes do not settle ``task``, or None when they agree on one value."""
    missing = [v.who for v in votes if not v.choices.get(task)]
    several = [v for v in votes if len(v.choices.get(task, [])) > 1]
    if missing:
        return f"no {task} chosen in {tool} ({', '.join(missing)})"
    if several:
        return f"several {task}s chosen in {tool} (" + " and ".join(
            f"{', '.join(map(repr, v.choices[task]))} by {v.who}" for v in several) + ")"
    values = {v.choices[task][0] for v in votes}
    if len(values) > 1:
        return f"annotators disagree on the {task} in {tool} (" + ", ".join(
            f"{v.choices[task][0]!r} by {v.who}" for v in votes) + ")"
    return None


def scheme_notes(rows: Sequence[dict[str, Any]]) -> list[Finding]:
    """Notes for reviewed rows whose chosen label is not of the scheme (``accept`` will refuse them)."""
    notes = []
    for row in rows:
        chosen = {t: row.get(t) for t in TASKS if row.get(t)}
        for message in check_fields(chosen, {}):
            if message.startswith(("unknown topic", "unknown stance")):
                notes.append(Finding(f"unit {row['id']}", f"{message}: accept will refuse it; fix the "
                                                          "row, and the labelling setup (tasks.xml, the "
                                                          "label list)"))
    return notes


def reason_kinds(reason: str) -> list[str]:
    """The generic part of each reason of a ``draft_reason`` (without the details in brackets)."""
    return [part.split(" (", 1)[0] for part in reason.split("; ")]


def load_json(text: str, where: str) -> tuple[Any, Finding | None]:
    """Parse JSON, turning every way it can fail (including absurd nesting) into a Finding."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        hint = " (JSON lines? those are a doccano export: use --from doccano)" if "Extra data" in err.msg \
            else ""
        return None, Finding(f"{where}{err.lineno}", f"invalid JSON: {err.msg} (column {err.colno}){hint}")
    except RecursionError:
        return None, Finding(f"{where}1", "nested too deeply to be an export (refused)")


_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def jsonl_text(rows: Sequence[dict[str, Any]]) -> str:
    """JSON lines, one row a line. ``str.splitlines`` also breaks at U+0085, U+2028 and U+2029,
    which ``json.dumps`` leaves raw: they are escaped, so any reader sees one row per line."""
    out = []
    for row in rows:
        line = json.dumps(row, ensure_ascii=False)
        for raw, escaped in _LINE_BREAKS.items():
            line = line.replace(raw, escaped)
        out.append(line + "\n")
    return "".join(out)


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON-lines text, split at "\\n" only (a unit may hold other line separators)."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def export_problems(rows: list[tuple[int, Any]]) -> list[Problem]:
    """Problems that stop a draft from being exported: rows a tool could not hand back."""
    problems = []
    for line, row in rows:
        problems += [Problem(line, m) for m in type_problems(row)]
    return problems


# --- accept -----------------------------------------------------------------------------------

def check_draft(lines: list[str], articles: dict[str, str], existing: list[dict[str, Any]]
                ) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every problem that stops a draft from being merged, by draft line."""
    parsed, problems = parse_lines(lines)
    good, found = check_rows(parsed, [_reviewed,
                                      lambda r: check_fields(_without_reason(r), DRAFT_FIELDS),
                                      lambda r: check_slice(r, articles)])
    problems += found + check_ids(good) + check_repeats(good)
    # A refused row was reported already: its unit is not "missing" as well.
    problems += _conflicts(good, existing) + _coverage(good, parsed, articles, existing, len(lines))
    return [row for _, row in good], sorted(problems, key=lambda p: p.line)


def _without_reason(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != DRAFT_REASON}


def _reviewed(row: dict[str, Any]) -> list[str]:
    """A row is merged only when a person marked it reviewed and chose every task."""
    status = row.get("status")
    if status == "draft":
        reason = row.get(DRAFT_REASON)
        if isinstance(reason, str) and reason:
            return [f"still marked draft: {reason} (settle it, then set status to reviewed)"]
        return ["still marked draft (review the labels, then set status to reviewed)"]
    if isinstance(status, str) and status not in STATUSES:
        return [f"status {status!r} is not one of {', '.join(STATUSES)}"]
    empty = [task for task in TASKS if row.get(task) == ""]
    if empty:
        return [f"no {' and no '.join(empty)} chosen (choose one of "
                + "; ".join(", ".join(TASKS[t]) for t in empty) + ")"]
    return []


def still_draft(lines: list[str]) -> tuple[int, Counter[str]]:
    """How many rows of a draft are still marked draft, and why (a row may have several reasons)."""
    parsed, _ = parse_lines(lines)
    drafts = [row for _, row in parsed if row.get("status") == "draft"]
    why: Counter[str] = Counter()
    for row in drafts:
        reason = row.get(DRAFT_REASON)
        why.update(reason_kinds(reason) if isinstance(reason, str) and reason else ["not reviewed yet"])
    return len(drafts), why


def _conflicts(good: list[tuple[int, dict[str, Any]]], existing: list[dict[str, Any]]) -> list[Problem]:
    by_id = {r["id"]: r for r in existing}
    by_text = {normalise(r["text"]): r for r in existing}
    problems = []
    for line, row in good:
        for other in (by_id.get(row["id"]), by_text.get(normalise(row["text"]))):
            if other is None:
                continue
            diff = [t for t in TASKS if row[t] != other[t]]
            if diff:
                problems.append(Problem(line, f"conflicts with {other['id']} in the labels "
                                              f"({', '.join(f'{t} {other[t]!r}' for t in diff)}); "
                                              "make them agree"))
                break
    return problems


def _coverage(good: list[tuple[int, dict[str, Any]]], parsed: list[tuple[int, dict[str, Any]]],
              articles: dict[str, str], existing: list[dict[str, Any]], last_line: int) -> list[Problem]:
    """Units of the draft's articles that no row of the draft (good or refused) nor the labels cover."""
    covered = {(r["article"], r["start"], r["end"]) for _, r in parsed
               if isinstance(r.get("article"), str) and isinstance(r.get("start"), int)
               and isinstance(r.get("end"), int)}
    covered |= {(r["article"], r["start"], r["end"]) for r in existing}
    problems = []
    for article in sorted({r["article"] for _, r in good}):
        for unit in segment(articles[article]):
            if (article, unit.start, unit.end) not in covered:
                problems.append(Problem(last_line + 1, f"unit {article}-{unit.index:03d} has no "
                                                       f"row (add one for {unit.text[:50]!r})"))
    return problems


def merge(existing: list[dict[str, Any]], reviewed: list[dict[str, Any]],
          articles: dict[str, str]) -> list[dict[str, Any]]:
    """The merged label rows in article order, draft-only fields dropped; checked once more."""
    keep = set(UNIT_FIELDS) | set(OPTIONAL_FIELDS)
    by_id = {r["id"]: r for r in existing}
    for row in reviewed:
        by_id.setdefault(row["id"], {k: v for k, v in row.items() if k in keep})
    merged = sorted(by_id.values(), key=lambda r: (r["article"], r["index"]))
    lines = [json.dumps(r, ensure_ascii=False) for r in merged]
    wanted = {r["article"] for r in merged}
    _, problems = validate_units(lines, {a: t for a, t in articles.items() if a in wanted})
    if problems:
        first = problems[0]
        raise InputError(f"the merged labels would not validate (row {first.line}: "
                         f"{first.message}); nothing was changed")
    return merged
