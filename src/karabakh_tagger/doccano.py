"""doccano (tested against 1.8.4): the upload ``export`` writes and the exports ``import`` reads.

doccano has no "prediction": a label uploaded with an example becomes the uploading user's own
annotation, and an exported row carries no review flag. So the upload carries **no labels**: the
model's suggestion (topic, stance, scores) goes into the example's metadata, which the annotation
page shows beside the text and which doccano never counts as an annotation. Every label in an
export was then chosen by a person, and a row is reviewed only when its annotators chose exactly
one ``topic:NAME`` and one ``stance:NAME`` and agree (:func:`karabakh_tagger.annotate.settle`).
doccano only creates the labels that occur in an upload, so ``export`` also writes the label list
(:func:`doccano_labels`) to import into the project.

In: the JSONL export as doccano gives it (a zip with one ``USER.jsonl`` per project member, each
member one vote), one JSONL file of it, or the JSON export. An export of the old upload, whose
labels were the model's, is refused: no row of it can be told reviewed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from karabakh_tagger.annotate import (
    Finding,
    Imported,
    Vote,
    jsonl_lines,
    load_json,
    settle,
    string_list,
    type_problems,
    unreviewed,
)
from karabakh_tagger.corpus import MAX_BYTES, decode
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

TOOL = "doccano"
UPLOAD_FIELDS: dict[str, type] = {
    "unit": str, "article": str, "index": int, "start": int, "end": int, "text": str,
    "suggested_topic": str, "topic_score": float, "suggested_stance": str, "stance_score": float,
    "model_version": str,
}
"""The metadata of an uploaded example (doccano exports it back as top-level fields)."""
_COLOURS = {"topic": "#1565c0", "stance": "#6a1b9a"}
_KEYS = {"topic": "123456789", "stance": "scn"}  # shortcut keys: 1-9 topics, s/c/n stances
OLD_UPLOAD = ("an export of the old doccano upload, which carried the model's labels as doccano labels: "
              "doccano counts them as the uploader's annotations, so no row of it can be told reviewed. "
              "Export the draft again (karabakh-tagger export DRAFT --to doccano), load it into a new "
              "doccano project with its label list and review there")


def to_doccano(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """doccano JSONL rows: the text, no labels, the unit and the model's suggestion as metadata."""
    return [{"text": row["text"], "label": [],
             "suggested_topic": row["topic"], "topic_score": row["topic_score"],
             "suggested_stance": row["stance"], "stance_score": row["stance_score"],
             "model_version": row["model_version"], "unit": row["id"], "article": row["article"],
             "index": row["index"], "start": row["start"], "end": row["end"]} for row in rows]


def doccano_labels() -> list[dict[str, Any]]:
    """Every label of the scheme as doccano's label-import JSON (Labels > Actions > Import Labels)."""
    return [{"text": f"{task}:{name}", "suffix_key": _KEYS[task][k], "background_color": _COLOURS[task],
             "text_color": "#ffffff"} for task, names in TASKS.items() for k, name in enumerate(names)]


def read_doccano(data: bytes, name: str) -> Imported:
    """Draft rows from a doccano export: a zip as doccano gives it, a JSONL file or a JSON list."""
    if data[:4] == b"PK\x03\x04":
        return _from_files(_zip_members(data, name))
    return _from_files([(PurePosixPath(name).stem, "", decode(data, name))])


def _zip_members(data: bytes, name: str) -> list[tuple[str, str, str]]:
    """``(annotator, prefix, text)`` of each JSONL or JSON file of a zip, with size limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
        members = []
        for info in infos:
            path = PurePosixPath(info.filename)
            if path.suffix not in (".jsonl", ".json"):
                raise InputError(f"{name}: holds {info.filename}, not JSONL: export the project from "
                                 "doccano as JSONL")
            if info.file_size > MAX_BYTES:
                raise InputError(f"{name}: {info.filename} is too large unpacked ({info.file_size:,} "
                                 f"bytes; the limit is {MAX_BYTES:,})")
            raw = archive.read(info)
            members.append((path.stem, f"{info.filename}:", decode(raw, info.filename)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as err:
        raise InputError(f"{name}: not a readable zip ({err}); unzip it and pass the JSONL of the "
                         "annotator") from None
    if not members:
        raise InputError(f"{name}: an empty zip (no JSONL file in it)")
    return members


def _items(prefix: str, text: str) -> tuple[list[tuple[str, Any]], list[Finding]]:
    """``(where, item)`` of a JSONL text or a JSON list."""
    if text.strip() and text.lstrip()[0] not in "[{":
        return [], [Finding(f"{prefix}1", "not JSONL (a CSV or fastText export?): export the project "
                                          "from doccano as JSONL")]
    if text.lstrip().startswith("["):
        data, problem = load_json(text, prefix)
        if problem:
            return [], [problem]
        return [(f"{prefix}item {n}", item) for n, item in enumerate(data, start=1)], []
    items, problems = [], []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        item, problem = load_json(line, f"{prefix}")
        if problem:
            problems.append(Finding(f"{prefix}{number}", problem.message))
        else:
            items.append((f"{prefix}{number}", item))
    if not items and not problems:
        problems.append(Finding(f"{prefix}1", "empty: no example in it"))
    return items, problems


def _from_files(files: list[tuple[str, str, str]]) -> Imported:
    """Rows of one or several annotators' files; each annotator's labels are one vote per unit."""
    out = Imported()
    order: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    votes: dict[str, list[Vote]] = {}
    has_ids = False
    for who, prefix, text in files:
        items, problems = _items(prefix, text)
        out.problems += problems
        seen: set[str] = set()
        for where, item in items:
            if isinstance(item, dict) and isinstance(item.get("data"), dict):
                out.problems = [Finding(where, "a Label Studio task, not a doccano example: use "
                                               "--from label-studio")]
                return out
            if isinstance(item, dict) and isinstance(item.get("row"), dict):
                out.problems = [Finding(where, OLD_UPLOAD)]
                return out
            found, row, vote = _example(item, who)
            if not found and row["id"] in seen:
                found = [f"unit {row['id']} appears twice in this file"]
            if found:
                out.problems += [Finding(where, m) for m in found]
                continue
            has_ids = has_ids or "id" in item
            seen.add(row["id"])
            if row["id"] not in rows:
                order.append(row["id"])
                rows[row["id"]], votes[row["id"]] = row, []
            if vote is not None:
                votes[row["id"]].append(vote)
    if out.problems:
        return out
    out.rows = [settle(rows[i], votes[i], TOOL) if votes[i]
                else unreviewed(rows[i], f"not labelled in {TOOL}") for i in order]
    out.notes += _hints(out.rows, votes, has_ids)
    return out


def _example(item: Any, who: str) -> tuple[list[str], dict[str, Any], Vote | None]:
    """Type problems, the draft row and the annotator's vote (None: no label) of one example."""
    found = type_problems(item, UPLOAD_FIELDS)
    if isinstance(item, dict) and len(found) == len(UPLOAD_FIELDS) and "text" in item:
        found = ["not an example of karabakh-tagger's upload (no unit metadata; was the project loaded "
                 "from the file export --to doccano wrote?)"]
    labels, message = string_list(item.get("label", []) if isinstance(item, dict) else [], "label")
    if message:
        found.append(message)
    if found:
        return found, {}, None
    row = {"id": item["unit"], "article": item["article"], "index": item["index"], "start": item["start"],
           "end": item["end"], "text": item["text"], "topic": item["suggested_topic"],
           "stance": item["suggested_stance"], "topic_score": item["topic_score"],
           "stance_score": item["stance_score"], "model_version": item["model_version"]}
    if not labels:
        return [], row, None
    choices: dict[str, list[str]] = {task: [] for task in TASKS}
    other = []
    for label in labels:
        task, sep, value = label.partition(":")
        if sep and task in TASKS and value:
            choices[task].append(value)
        else:
            other.append(label)
    return [], row, Vote(who, choices, tuple(other))


def _hints(rows: list[dict[str, Any]], votes: dict[str, list[Vote]], has_ids: bool) -> list[Finding]:
    """Notes on the export as a whole, when it looks like a setup mistake."""
    notes = []
    if not has_ids:
        notes.append(Finding("1", "no example has a doccano id: this is the upload file, not an export "
                                  "of doccano (nothing in it was labelled)"))
    labelled = [v for vs in votes.values() for v in vs]
    if labelled and all(sum(len(c) for c in v.choices.values()) + len(v.other) <= 1 for v in labelled):
        notes.append(Finding("1", "no example has more than one label: was the project created with "
                                  "'Allow single label'? A row needs a topic and a stance; create the "
                                  "project without it"))
    return notes
