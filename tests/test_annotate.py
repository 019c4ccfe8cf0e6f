"""The annotation loop through the real CLI: annotate, export, import, accept; and its refusals.

The article used here is composed for these tests (not news text), in tests/data/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import ARTICLES_DIR, LABELS_FILE, run_cli

NEW_ARTICLE = Path(__file__).parent / "data" / "composed_article.txt"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the corpus and the labels, so accept can write without touching the repo."""
    shutil.copytree(ARTICLES_DIR, tmp_path / "articles")
    shutil.copy(LABELS_FILE, tmp_path / "labels.jsonl")
    return tmp_path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _annotate(project: Path, models: Path, *extra: str) -> Path:
    draft = project / "draft.jsonl"
    done = run_cli("annotate", NEW_ARTICLE, "--out", draft, "--models", models,
                   "--articles", project / "articles", *extra)
    assert done.code == 0, done.err
    return draft


def _review(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "status": "reviewed"} for r in rows]


def test_annotate_copies_the_article_and_writes_draft_rows(project: Path,
                                                           models: Path) -> None:
    draft = _annotate(project, models)
    rows = _rows(draft)
    copies = [p for p in (project / "articles").glob("*.txt") if p.stem.startswith("005_")]
    assert len(copies) == 1
    assert copies[0].read_bytes() == NEW_ARTICLE.read_bytes()
    text = copies[0].read_text(encoding="utf-8")
    manifest = json.loads((models / "manifest.json").read_text())
    fast = manifest["files"]["fast.npz"]["sha256"]
    assert rows and all(r["status"] == "draft" for r in rows)
    assert all(r["article"] == copies[0].stem and text[r["start"]:r["end"]] == r["text"] for r in rows)
    assert all(r["model_version"].startswith("baseline@") for r in rows)
    assert all(manifest["files"]["topic.joblib"]["sha256"][:12] in r["model_version"] or
               fast[:12] in r["model_version"] for r in rows)
    # Annotating the same file again reuses its id instead of copying it twice.
    _annotate(project, models)
    assert len([p for p in (project / "articles").glob("*.txt") if p.stem.startswith("005_")]) == 1


def test_sort_uncertain_puts_the_least_confident_first(project: Path, models: Path) -> None:
    rows = _rows(_annotate(project, models, "--sort", "uncertain"))
    confidence = [min(r["topic_score"], r["stance_score"]) for r in rows]
    assert confidence == sorted(confidence)


def test_accept_refuses_drafts_and_changes_nothing(project: Path, models: Path) -> None:
    draft = _annotate(project, models)
    before = (project / "labels.jsonl").read_bytes()
    done = run_cli("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")
    assert done.code == 1
    assert "still marked draft" in done.err and "Traceback" not in done.err
    assert f"{draft}:1:" in done.err
    assert (project / "labels.jsonl").read_bytes() == before


def test_the_editor_loop_annotate_review_accept_validate(project: Path, models: Path) -> None:
    draft = _annotate(project, models)
    for tool, out in (("label-studio", "tasks.json"), ("doccano", "doccano.jsonl")):
        assert run_cli("export", draft, "--to", tool, "--out", project / out).code == 0
    tasks = json.loads((project / "tasks.json").read_text(encoding="utf-8"))
    rows = _rows(draft)
    assert [t["predictions"][0]["result"][1]["value"]["choices"] for t in tasks] == [[r["stance"]]
                                                                                    for r in rows]
    assert all(r["label"] == [] for r in _rows(project / "doccano.jsonl"))  # suggestions are metadata
    reviewed = _write(project / "reviewed.jsonl", _review(rows))
    labels = project / "labels.jsonl"
    done = run_cli("accept", reviewed, "--labels", labels, "--articles", project / "articles")
    assert done.code == 0, done.err
    merged = _rows(labels)
    assert len(merged) == 109 + len(rows)
    assert all("status" not in r and "model_version" not in r for r in merged)
    valid = run_cli("validate", labels, "--articles", project / "articles")
    assert valid.code == 0, valid.err


def test_accept_says_how_many_rows_are_still_draft_and_why(project: Path, models: Path) -> None:
    rows = _rows(_annotate(project, models))
    rows[0] = {**rows[0], "stance": "", "draft_reason": "no stance chosen in doccano (admin)"}
    rows[1] = {**rows[1], "status": "reviewed"}
    draft = _write(project / "draft.jsonl", rows)
    done = run_cli("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")
    assert done.code == 1
    assert f"{draft}:1: still marked draft: no stance chosen in doccano (admin)" in done.err
    assert (f"{draft}: {len(rows) - 1} row(s) still draft: {len(rows) - 2} not reviewed yet, "
            "1 no stance chosen in doccano") in done.err


@pytest.mark.parametrize("break_row, message", [
    (lambda r: {**r, "topic": "turkey"}, "unknown topic 'turkey'"),
    (lambda r: {**r, "text": r["text"] + " edited"}, "not the article slice"),
    (lambda r: {**r, "start": r["start"] + 1}, "not the article slice"),
    (lambda r: {**r, "article": "999_0000000000000000", "id": "999_0000000000000000-000"},
     "unknown article"),
])
def test_accept_reports_each_bad_row_with_its_line(project: Path, models: Path,
                                                   break_row: Any, message: str) -> None:
    rows = _review(_rows(_annotate(project, models)))
    rows[1] = break_row(rows[1])
    draft = _write(project / "bad.jsonl", rows)
    before = (project / "labels.jsonl").read_bytes()
    done = run_cli("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")
    assert done.code == 1
    assert any(line.startswith(f"{draft}:2: ") and message in line for line in done.err.splitlines())
    assert (project / "labels.jsonl").read_bytes() == before


def test_accept_refuses_duplicate_ids_and_conflicts(project: Path, models: Path) -> None:
    rows = _review(_rows(_annotate(project, models)))
    existing = json.loads(LABELS_FILE.read_text(encoding="utf-8").splitlines()[0])
    conflicting = {**existing, "topic": "turkey_role" if existing["topic"] != "turkey_role" else "other",
                   "topic_score": 0.5, "stance_score": 0.5, "model_version": "x", "status": "reviewed"}
    draft = _write(project / "bad.jsonl", [*rows, rows[0], conflicting])
    done = run_cli("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")
    assert done.code == 1
    assert f"{draft}:{len(rows) + 1}: duplicate id" in done.err
    assert f"{draft}:{len(rows) + 2}: conflicts with {existing['id']}" in done.err


def test_accept_refuses_a_partial_article(project: Path, models: Path) -> None:
    rows = _review(_rows(_annotate(project, models)))
    draft = _write(project / "partial.jsonl", rows[:-1])
    done = run_cli("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")
    assert done.code == 1 and "has no row" in done.err


def test_import_names_the_other_tool_for_a_file_in_its_schema(project: Path,
                                                              models: Path) -> None:
    draft = _annotate(project, models)
    ls, dc = project / "ls.json", project / "dc.jsonl"
    run_cli("export", draft, "--to", "label-studio", "--out", ls)
    run_cli("export", draft, "--to", "doccano", "--out", dc)
    wrong = run_cli("import", ls, "--from", "doccano", "--out", project / "x.jsonl")
    assert wrong.code == 1 and "--from label-studio" in wrong.err
    wrong = run_cli("import", dc, "--from", "label-studio", "--out", project / "x.jsonl")
    assert wrong.code == 1 and "--from doccano" in wrong.err
    assert not (project / "x.jsonl").exists()


# --- check_draft and merge, directly --------------------------------------------------------------

TINY = "Truce holds.\n\nRefugees return.\n"


def _tiny_rows(status: str = "reviewed") -> list[dict[str, Any]]:
    from karabakh_tagger.segment import segment

    return [{"id": f"900_{'0' * 16}-{u.index:03d}", "article": f"900_{'0' * 16}", "index": u.index,
             "start": u.start, "end": u.end, "text": u.text, "topic": "ceasefire_terms",
             "stance": "neutral", "topic_score": 0.5, "stance_score": 0.5, "model_version": "m",
             "status": status} for u in segment(TINY)]


def test_check_draft_accepts_a_reviewed_article_and_merge_drops_draft_fields() -> None:
    from karabakh_tagger.annotate import check_draft, merge

    articles = {f"900_{'0' * 16}": TINY}
    rows = _tiny_rows()
    good, problems = check_draft([json.dumps(r) for r in rows], articles, [])
    assert problems == [] and [r["id"] for r in good] == [r["id"] for r in rows]
    merged = merge([], good, articles)
    assert [set(r) for r in merged] == [{"id", "article", "index", "start", "end", "text", "topic",
                                         "stance"}] * 2


def test_check_draft_reports_drafts_and_missing_units_by_line() -> None:
    from karabakh_tagger.annotate import check_draft

    articles = {f"900_{'0' * 16}": TINY}
    rows = _tiny_rows()
    _, problems = check_draft([json.dumps(rows[0])], articles, [])  # the second unit has no row
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (2, f"unit 900_{'0' * 16}-001 has no row")]
    rows[0]["status"] = "draft"
    _, problems = check_draft([json.dumps(r) for r in rows], articles, [])
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [(1, "still marked draft")]


def test_merge_refuses_labels_that_would_not_validate() -> None:
    from karabakh_tagger.annotate import merge
    from karabakh_tagger.errors import InputError

    rows = _tiny_rows()
    rows[1] = {**rows[1], "start": rows[1]["start"] + 1}
    with pytest.raises(InputError, match="would not validate"):
        merge([], rows, {f"900_{'0' * 16}": TINY})


def test_import_and_export_help_describe_the_formats() -> None:
    export, imported = run_cli("export", "--help"), run_cli("import", "--help")
    assert export.code == 0 and imported.code == 0
    for words in ("predictions", "required", "WITHOUT labels", "metadata", ".labels.json"):
        assert words in export.out
    for words in ("JSON_MIN", "CSV/TSV are refused", "a zip, one USER.jsonl", "old upload", "draft_reason"):
        assert words in imported.out
