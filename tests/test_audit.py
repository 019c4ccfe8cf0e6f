"""Confident learning on out-of-fold probabilities, and agreement between annotators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from karabakh_tagger.audit import agreement, find_label_issues, label_issues

from conftest import LABELS_FILE, ROOT, run_cli


def test_a_confidently_contradicted_label_is_flagged_first() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9],   # row 2 labelled 0, looks like 1
                      [0.2, 0.8], [0.3, 0.7], [0.45, 0.55]])
    issues = find_label_issues(labels, probs)
    assert [(row, suggested) for row, suggested, _ in issues] == [(2, 1)]
    assert issues[0][2] < 0


def test_no_issue_when_every_label_is_the_model_choice() -> None:
    labels = np.array([0, 1, 2, 0])
    probs = np.eye(3)[labels] * 0.7 + 0.1
    assert find_label_issues(labels, probs) == []


def test_label_issues_reads_oof_rows() -> None:
    rows = [{"id": f"u{i}", "text": "t", "topic": {"gold": "other", "proba": {}},
             "stance": {"gold": g, "proba": {"supportive": s, "critical": c, "neutral": n}}}
            for i, (g, s, c, n) in enumerate([("neutral", 0.1, 0.1, 0.8), ("neutral", 0.1, 0.8, 0.1),
                                              ("critical", 0.1, 0.8, 0.1), ("critical", 0.2, 0.7, 0.1)])]
    for row in rows:
        row["topic"]["proba"] = {name: 1.0 if name == "other" else 0.0 for name in
                                 ("ceasefire_terms", "peacekeeping_monitoring", "turkey_role",
                                  "foreign_fighters", "refugees_humanitarian", "diplomacy_negotiations",
                                  "domestic_politics", "conflict_background", "other")}
    found = label_issues(rows)
    assert found["topic"] == []
    assert [(i.id, i.given, i.suggested) for i in found["stance"]] == [("u1", "neutral", "critical")]


def _labels() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LABELS_FILE.read_text(encoding="utf-8").splitlines()]


def test_kappa_is_one_for_identical_files_and_drops_with_changes() -> None:
    first = _labels()
    assert agreement(first, first)["topic"]["kappa"] == 1.0
    second = [dict(r) for r in first]
    for row in second[:20]:
        row["stance"] = "neutral" if row["stance"] != "neutral" else "critical"
    result = agreement(first, second)
    assert result["topic"]["kappa"] == 1.0
    assert result["stance"]["kappa"] < 0.8
    assert len(result["stance"]["disagreements"]) == 20


def test_audit_cli_writes_the_report(tmp_path: Path) -> None:
    rows = _labels()
    oof = tmp_path / "oof.jsonl"
    names = {"topic": ["ceasefire_terms", "peacekeeping_monitoring", "turkey_role", "foreign_fighters",
                       "refugees_humanitarian", "diplomacy_negotiations", "domestic_politics",
                       "conflict_background", "other"],
             "stance": ["supportive", "critical", "neutral"]}
    with oof.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            out = {"id": row["id"], "text": row["text"]}
            for task, classes in names.items():
                wrong = i == 3  # the model is sure unit 3 is something else
                pick = classes[(classes.index(row[task]) + 1) % len(classes)] if wrong else row[task]
                out[task] = {"gold": row[task], "proba": {c: 0.9 if c == pick else 0.1 / (len(classes) - 1)
                                                           for c in classes}}
            handle.write(json.dumps(out) + "\n")
    report = tmp_path / "issues.md"
    done = run_cli("audit", "--oof", oof, "--labels", LABELS_FILE,
                   "--second", ROOT / "labels" / "second_annotator.jsonl", "--out", report)
    assert done.code == 0, done.err
    text = report.read_text(encoding="utf-8")
    assert rows[3]["id"] in text and "Cohen's kappa" in text
    missing = run_cli("audit", "--oof", tmp_path / "nope.jsonl", "--out", report)
    assert missing.code == 1 and "run make eval" in missing.err
