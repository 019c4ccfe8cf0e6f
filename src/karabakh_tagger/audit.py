"""Find likely label errors and measure agreement between annotators.

Label issues come from confident learning (Northcutt et al., 2021) applied to the out-of-fold
probabilities of the nested cross-validation (``reports/oof_predictions.jsonl``): a unit is
suspect when the model, never trained on it, gives another class a probability above that
class's own average confidence while the given label stays below its own. The implementation
is the "confident joint, off-diagonal" rule of cleanlab's ``find_label_issues``, written out in
a few lines so the core has no extra dependency (see docs/audit.md for the comparison).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS
from karabakh_tagger.results import Kappa


@dataclass(frozen=True)
class Issue:
    """A unit whose given label the out-of-fold model doubts."""

    task: str
    id: str
    text: str
    given: str
    suggested: str
    given_prob: float
    suggested_prob: float
    margin: float  # given_prob - suggested_prob: the more negative, the more suspect


def find_label_issues(labels: np.ndarray, probs: np.ndarray) -> list[tuple[int, int, float]]:
    """``(row, suggested class, margin)`` for each likely label error, most suspect first.

    Per-class thresholds are the mean probability of each class over the rows labelled with it.
    A row is an issue when some other class reaches its threshold and beats the given class.
    """
    n_classes = probs.shape[1]
    thresholds = np.full(n_classes, np.inf)
    for c in range(n_classes):
        if (labels == c).any():
            thresholds[c] = probs[labels == c, c].mean()
    issues = []
    for i, given in enumerate(labels):
        above = np.flatnonzero(probs[i] >= thresholds)
        above = above[above != given]
        if len(above) == 0:
            continue
        suggested = int(above[np.argmax(probs[i, above])])
        margin = float(probs[i, given] - probs[i, suggested])
        if margin < 0:
            issues.append((i, suggested, margin))
    return sorted(issues, key=lambda item: item[2])


def label_issues(oof: list[dict[str, Any]]) -> dict[str, list[Issue]]:
    """Issues per task from out-of-fold rows ``{"id", "text", task: {"gold", "proba"}}``."""
    out = {}
    for task, names in TASKS.items():
        rows = [r for r in oof if task in r]
        labels = np.array([names.index(r[task]["gold"]) for r in rows])
        probs = np.array([[r[task]["proba"][n] for n in names] for r in rows])
        out[task] = [Issue(task, rows[i]["id"], rows[i]["text"], names[labels[i]], names[s],
                           round(float(probs[i, labels[i]]), 3), round(float(probs[i, s]), 3),
                           round(m, 3))
                     for i, s, m in find_label_issues(labels, probs)]
    return out


def agreement(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> dict[str, Any]:
    """Cohen's kappa per task over the ids both files label, with the disagreements."""
    b = {r["id"]: r for r in second}
    shared = [r for r in first if r["id"] in b]
    out: dict[str, Any] = {"shared": len(shared)}
    for task in TASKS:
        x = [r[task] for r in shared]
        y = [b[r["id"]][task] for r in shared]
        kappa = cohen_kappa_score(x, y) if shared else float("nan")
        out[task] = {"kappa": round(float(kappa), 3),
                     "agreement": round(float(np.mean([p == q for p, q in zip(x, y, strict=True)]))
                                        if shared else float("nan"), 3),
                     "disagreements": [{"id": r["id"], "first": r[task], "second": b[r["id"]][task],
                                        "text": r["text"]}
                                       for r in shared if r[task] != b[r["id"]][task]]}
    return out


def render(issues: dict[str, list[Issue]], second: dict[str, Any] | None,
           second_labels: dict[str, dict[str, Any]], top: int) -> str:
    """``reports/label_issues.md``."""
    lines = ["# Label audit", "",
             "Units whose label the nested-CV model (never trained on them) doubts, most suspect "
             "first: confident learning on out-of-fold probabilities. A row is a place to look, "
             "not a verdict: check it against `labels/GUIDELINES.md` and fix it only if the "
             "guideline says so.", ""]
    for task, found in issues.items():
        lines += [f"## {task}: {len(found)} likely issue(s)", "",
                  "| # | id | given | suggested | p(given) | p(suggested) | second annotator | text |",
                  "|---|---|---|---|---|---|---|---|"]
        for n, issue in enumerate(found[:top], start=1):
            other = second_labels.get(issue.id, {}).get(task, "")
            text = issue.text.replace("|", "\\|")[:110]
            lines.append(f"| {n} | {issue.id} | {issue.given} | {issue.suggested} | "
                         f"{issue.given_prob:.2f} | {issue.suggested_prob:.2f} | {other} | {text} |")
        lines.append("")
    if second is not None:
        lines += ["## Agreement between annotators", "",
                  f"{second['shared']} units labelled by both.", "",
                  "| task | Cohen's kappa | raw agreement | disagreements |", "|---|---|---|---|"]
        for task in TASKS:
            s = second[task]
            lines.append(f"| {task} | {s['kappa']:.3f} | {s['agreement']:.3f} | {len(s['disagreements'])} |")
        lines.append("")
        for task in TASKS:
            for d in second[task]["disagreements"]:
                lines.append(f"- {task} {d['id']}: first `{d['first']}`, second `{d['second']}`: "
                             f"{d['text'][:100]}")
        lines.append("")
    return "\n".join(lines)


SECOND_FIELDS = ("id", "first_topic", "first_stance", "second_topic", "second_stance")
"""A row of ``labels/authored/second/BATCH.jsonl``: the writer's first labels and the blind second
labels of one composed row, before adjudication (the adjudicated label is in the batch file)."""


def read_second(folder: Path) -> dict[str, list[dict[str, str]]]:
    """The second-labelling records per batch (file name without ``.jsonl``); {} without a folder."""
    out: dict[str, list[dict[str, str]]] = {}
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in SECOND_FIELDS):
                    raise ValueError
            except ValueError:
                raise InputError(f"{path}:{number}: not a second-labelling record "
                                 f"({', '.join(SECOND_FIELDS)})") from None
            rows.append(row)
        out[path.stem] = rows
    return out


def kappa(rows: list[dict[str, str]]) -> Kappa:
    """Cohen's kappa of the first against the second labels, per task."""
    def one(task: str) -> float:
        first = [r[f"first_{task}"] for r in rows]
        second = [r[f"second_{task}"] for r in rows]
        if len(set(first) | set(second)) < 2:  # one class only: agreement is total or undefined
            return 1.0 if first == second else 0.0
        return round(float(cohen_kappa_score(first, second)), 3)
    return Kappa(len(rows), one("topic"), one("stance"))
