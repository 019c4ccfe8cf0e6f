"""Model-assisted annotation: draft labels for new articles, round trips through annotation
tools, and accepting reviewed rows into ``labels/sentences.jsonl``.

The loop: ``annotate`` copies each new article into the article folder under a stable id and
writes draft rows with the model's labels; a reviewer corrects them (in an editor, or in Label
Studio or doccano via ``export``/``import``) and sets ``status`` to ``reviewed``; ``accept``
checks every row and merges all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from karabakh_tagger.corpus import read_text
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import (
    DRAFT_FIELDS,
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
from karabakh_tagger.tag import Tagger

TOOLS = ("label-studio", "doccano")
_ARTICLE_ID = re.compile(r"^(\d{3})_[0-9a-f]{16}$")


def article_id(data: bytes, articles_dir: Path) -> str:
    """The stable id of an article: ``NNN_<first 16 hex of sha256>``, reusing an existing copy."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    numbers = []
    for path in sorted(articles_dir.glob("*.txt")):
        if path.stem.endswith(digest):
            return path.stem
        match = _ARTICLE_ID.match(path.stem)
        if match:
            numbers.append(int(match.group(1)))
    return f"{max(numbers, default=-1) + 1:03d}_{digest}"


def add_article(source: Path, articles_dir: Path) -> tuple[str, str]:
    """Copy an article byte for byte into the article folder; returns ``(id, text)``."""
    text = read_text(source)
    if not text.strip():
        raise InputError(f"{source}: empty; nothing to annotate")
    data = source.read_bytes()
    ident = article_id(data, articles_dir)
    target = articles_dir / f"{ident}.txt"
    if not target.exists():
        tmp = target.with_suffix(".txt.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return ident, text


def draft_rows(tagger: Tagger, ident: str, text: str, model_version: str) -> list[dict[str, Any]]:
    """Draft label rows for every unit of one article, with the model's labels and scores."""
    rows = []
    for unit in tagger.tag(text, article=ident):
        rows.append({
            "id": f"{ident}-{unit.index:03d}", "article": ident, "index": unit.index,
            "start": unit.start, "end": unit.end, "text": unit.text,
            "topic": unit.topic, "stance": unit.stance,
            "topic_score": unit.topic_score, "stance_score": unit.stance_score,
            "model_version": model_version, "status": "draft",
        })
    return rows


def model_version(tagger: Tagger) -> str:
    """A short name for the model that made a draft: family, creation time and a file hash."""
    return tagger.manifest.version_name(tagger.model) if tagger.manifest else tagger.model


def sort_uncertain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Least confident first (the lower of the two scores), so reviewers start where it matters."""
    return sorted(rows, key=lambda r: min(r["topic_score"], r["stance_score"]))


# --- annotation tools -------------------------------------------------------------------------

def to_label_studio(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio tasks (JSON list) with the model's labels as predictions."""
    tasks = []
    for n, row in enumerate(rows, start=1):
        result = [{"from_name": task, "to_name": "text", "type": "choices",
                   "value": {"choices": [row[task]]}} for task in TASKS]
        tasks.append({"id": n, "data": {"text": row["text"], "row": row},
                      "predictions": [{"model_version": row.get("model_version", ""),
                                       "score": row.get("topic_score"), "result": result}]})
    return tasks


def label_studio_config() -> str:
    """The labelling interface XML that matches ``to_label_studio``."""
    def choices(task: str) -> str:
        options = "".join(f'<Choice value="{name}"/>' for name in TASKS[task])
        return f'<Choices name="{task}" toName="text" choice="single">{options}</Choices>'
    return f'<View><Text name="text" value="$text"/>{choices("topic")}{choices("stance")}</View>\n'


def to_doccano(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """doccano text-classification JSONL rows, labels as ``topic:NAME`` and ``stance:NAME``."""
    return [{"text": row["text"], "label": [f"{task}:{row[task]}" for task in TASKS], "row": row}
            for row in rows]


def _choices(result: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for item in result:
        chosen = item.get("value", {}).get("choices") or []
        if item.get("from_name") in TASKS and chosen:
            out[item["from_name"]] = chosen[0]
    return out


def from_label_studio(data: Any) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows back from a Label Studio JSON export; annotated tasks become ``reviewed``."""
    if not isinstance(data, list):
        return [], [Problem(1, "not a Label Studio export (expected a JSON list of tasks; "
                               "for doccano use --from doccano)")]
    rows, problems = [], []
    for n, task in enumerate(data, start=1):
        row = task.get("data", {}).get("row") if isinstance(task, dict) else None
        if not isinstance(row, dict):
            problems.append(Problem(n, f"task {n} has no data.row (was it exported by "
                                       "karabakh-tagger export --to label-studio?)"))
            continue
        annotations = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        row = dict(row)
        if annotations:
            row.update(_choices(annotations[-1].get("result", [])))
            row["status"] = "reviewed"
        rows.append(row)
    return rows, problems


def from_doccano(lines: Iterable[str]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows back from a doccano JSONL export; every exported row counts as ``reviewed``."""
    parsed, problems = parse_lines(lines)
    rows = []
    for line, item in parsed:
        row = item.get("row") or (item.get("meta") or {}).get("row")
        labels = item.get("label", item.get("labels"))
        if not isinstance(row, dict) or not isinstance(labels, list):
            problems.append(Problem(line, "not a doccano row exported by karabakh-tagger (needs "
                                          "'row' and 'label'; for Label Studio use --from label-studio)"))
            continue
        row = dict(row)
        for label in labels:
            task, _, value = str(label).partition(":")
            if task in TASKS:
                row[task] = value
        row["status"] = "reviewed"
        rows.append(row)
    return rows, problems


def read_export(path: Path, tool: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows of an annotation tool's export file, with problems by line (or task number)."""
    text = read_text(path)
    if tool == "label-studio":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            hint = " (a JSON-lines file? use --from doccano)" if "Extra data" in err.msg else ""
            return [], [Problem(err.lineno, f"invalid JSON: {err.msg}{hint}")]
        return from_label_studio(data)
    if text.lstrip().startswith("["):
        return [], [Problem(1, "a JSON list, not JSON lines: a Label Studio export? "
                               "use --from label-studio")]
    return from_doccano(text.splitlines())


# --- accept -----------------------------------------------------------------------------------

def check_draft(lines: list[str], articles: dict[str, str], existing: list[dict[str, Any]]
                ) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every problem that stops a draft from being merged, by draft line."""
    def reviewed(row: dict[str, Any]) -> list[str]:
        if row["status"] not in STATUSES:
            return [f"status {row['status']!r} is not one of {', '.join(STATUSES)}"]
        if row["status"] != "reviewed":
            return ["still marked draft (review the labels, then set status to reviewed)"]
        return []

    parsed, problems = parse_lines(lines)
    good, found = check_rows(parsed, [lambda r: check_fields(r, DRAFT_FIELDS),
                                      lambda r: check_slice(r, articles), reviewed])
    problems += found + check_ids(good) + check_repeats(good)
    # A refused row was reported already: its unit is not "missing" as well.
    problems += _conflicts(good, existing) + _coverage(good, parsed, articles, existing, len(lines))
    return [row for _, row in good], sorted(problems, key=lambda p: p.line)


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
    keep = set(UNIT_FIELDS) | {"note"}
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
