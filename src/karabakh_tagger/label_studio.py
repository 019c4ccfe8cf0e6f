"""Label Studio (tested against 1.23.2): the tasks ``export`` writes and the exports ``import`` reads.

Out: a JSON list of tasks, each with the unit's draft row in ``data.row`` and the model's labels
as a *prediction* (Label Studio shows it as a pre-annotation; it is not an annotation until a
person submits it), plus the labelling interface ``tasks.xml`` with both choices required.

In: the JSON export (tasks with their ``annotations``) or the JSON_MIN export (one flat item per
annotation). Every submitted annotation is one person's vote, and
:func:`karabakh_tagger.annotate.settle` decides what the row becomes; a task skipped in Label
Studio or never annotated stays a draft. CSV and TSV exports are refused with the export to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from karabakh_tagger.annotate import (
    DRAFT_REASON,
    Finding,
    Imported,
    Vote,
    draft_row,
    load_json,
    settle,
    string_list,
    type_problems,
    unreviewed,
)
from karabakh_tagger.labels import TASKS

TOOL = "Label Studio"


def to_label_studio(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio tasks with the model's labels as predictions (a blank task gets none)."""
    tasks = []
    for n, row in enumerate(rows, start=1):
        plain = draft_row({**row, "status": "draft"})
        plain.pop(DRAFT_REASON, None)
        result = [{"from_name": task, "to_name": "text", "type": "choices",
                   "value": {"choices": [row[task]]}} for task in TASKS if row.get(task) in TASKS[task]]
        task_: dict[str, Any] = {"id": n, "data": {"text": row["text"], "row": plain}}
        if result:
            task_["predictions"] = [{"model_version": row.get("model_version", ""),
                                     "score": row.get("topic_score"), "result": result}]
        tasks.append(task_)
    return tasks


def label_studio_config() -> str:
    """The labelling interface (``tasks.xml``) that matches :func:`to_label_studio`."""
    def choices(task: str) -> str:
        options = "".join(f'<Choice value="{name}"/>' for name in TASKS[task])
        return (f'<Choices name="{task}" toName="text" choice="single" required="true">'
                f"{options}</Choices>")
    return (f'<View><Text name="text" value="$text"/><Header value="topic"/>{choices("topic")}'
            f'<Header value="stance"/>{choices("stance")}</View>\n')


def read_label_studio(text: str) -> Imported:
    """Draft rows from the text of a Label Studio export (JSON or JSON_MIN)."""
    head = text.lstrip()[:1]
    if head not in ("[", "{"):
        first = text.split("\n", 1)[0]
        if "\t" in first or "," in first:
            return Imported(problems=[Finding("1", "a CSV or TSV export: these cannot be read back "
                                                   "safely; in Label Studio choose Export > JSON "
                                                   "(or JSON_MIN)")])
    data, problem = load_json(text, "")
    if problem:
        return Imported(problems=[problem])
    if not isinstance(data, list):
        return Imported(problems=[Finding("1", "not a Label Studio export (expected a JSON list of "
                                               "tasks; for doccano use --from doccano)")])
    if data and all(isinstance(item, dict) and "unit" in item and "data" not in item for item in data):
        return Imported(problems=[Finding("1", "a doccano export, not Label Studio's: use --from doccano")])
    if any(isinstance(item, dict) and "data" not in item and "row" in item for item in data):
        return _from_json_min(data)
    return _from_json(data)


def _who(annotation: dict[str, Any]) -> str:
    user = annotation.get("completed_by")
    if isinstance(user, dict):
        user = user.get("email") or user.get("id")
    return f"user {user} in annotation {annotation.get('id')}"


def _from_json(data: list[Any]) -> Imported:
    """The JSON export: tasks with ``data.row`` and a list of ``annotations``."""
    out = Imported()
    for n, task in enumerate(data, start=1):
        where = f"task {task.get('id', n)}" if isinstance(task, dict) else f"item {n}"
        row = task.get("data", {}).get("row") if isinstance(task, dict) and isinstance(
            task.get("data"), dict) else None
        if row is None:
            out.problems.append(Finding(where, "no data.row (was it made by karabakh-tagger export "
                                               "--to label-studio? for doccano use --from doccano)"))
            continue
        found = [f"data.row: {m}" for m in type_problems(row)]
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            found.append(f"annotations must be a list, got {type(annotations).__name__}")
            annotations = []
        votes: list[Vote] = []
        submitted = 0
        for annotation in annotations:
            vote, messages = _vote(annotation)
            found += messages
            if vote is not None:
                votes.append(vote)
            if isinstance(annotation, dict):
                submitted += 1
        if found:
            out.problems += [Finding(where, m) for m in found]
            continue
        if votes:
            out.rows.append(settle(row, votes, TOOL))
        else:
            reason = f"skipped in {TOOL}" if submitted else f"not annotated in {TOOL}"
            out.rows.append(unreviewed(row, reason))
    return out


def _vote(annotation: Any) -> tuple[Vote | None, list[str]]:
    """One submitted annotation as a vote (None when it was skipped), or type problems."""
    if not isinstance(annotation, dict):
        return None, [f"an annotation must be an object, got {type(annotation).__name__}"]
    if annotation.get("was_cancelled") is True:
        return None, []
    result = annotation.get("result", [])
    if not isinstance(result, list):
        return None, [f"annotation {annotation.get('id')}: result must be a list"]
    choices: dict[str, list[str]] = {}
    messages = []
    for item in result:
        if not isinstance(item, dict) or item.get("from_name") not in TASKS:
            continue
        value = item.get("value")
        chosen, message = string_list(value.get("choices") if isinstance(value, dict) else value,
                                      f"annotation {annotation.get('id')}: {item['from_name']} choices")
        if message:
            messages.append(message)
        choices.setdefault(item["from_name"], []).extend(chosen)
    return Vote(_who(annotation), choices), messages


def _from_json_min(data: list[Any]) -> Imported:
    """The JSON_MIN export: one flat item per annotation, ``topic``/``stance`` as values."""
    out = Imported()
    order: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    votes: dict[str, list[Vote]] = {}
    for n, item in enumerate(data, start=1):
        where = f"item {n}"
        row = item.get("row") if isinstance(item, dict) else None
        found = [f"row: {m}" for m in type_problems(row)] if row is not None else [
            "no row (was it made by karabakh-tagger export --to label-studio?)"]
        choices: dict[str, list[str]] = {}
        for task in TASKS:
            if isinstance(item, dict) and task in item:
                value = item[task]
                value = value.get("choices") if isinstance(value, dict) else value
                chosen, message = string_list([value] if isinstance(value, str) else value, task)
                if message:
                    found.append(message)
                choices[task] = chosen
        if found:
            out.problems += [Finding(where, m) for m in found]
            continue
        assert isinstance(row, dict)
        if row["id"] not in rows:
            order.append(row["id"])
            rows[row["id"]] = row
            votes[row["id"]] = []
        if choices:
            who = f"user {item.get('annotator')} in annotation {item.get('annotation_id')}"
            votes[row["id"]].append(Vote(who, choices))
    out.rows = [settle(rows[i], votes[i], TOOL) if votes[i]
                else unreviewed(rows[i], f"not annotated in {TOOL}") for i in order]
    return out
