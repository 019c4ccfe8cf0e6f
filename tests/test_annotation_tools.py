"""Round trips through the real annotation tools, on their recorded exports (tests/data/tools/).

Label Studio 1.23.2 and doccano 1.8.4 made these files (tests/data/tools/README.md says how); the
expected labels of a full review are in label-studio/full_review.expected.json. Every import runs
the real CLI; what comes back is checked unit by unit, and ``accept`` decides what may merge.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import ARTICLES_DIR, DATA, LABELS_FILE, read_jsonl, run_cli, write_jsonl

TOOLS = DATA / "tools"
LS = TOOLS / "label-studio"
DC = TOOLS / "doccano"
OLD = TOOLS / "doccano-old-upload"
ARTICLE = "005_64d5fcc17b9f29aa"
EXPECTED: dict[str, dict[str, str]] = json.loads((LS / "full_review.expected.json").read_text())
UNITS = list(EXPECTED)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The corpus, the labels and the tools' article (as `annotate` copied it), in a temp folder."""
    shutil.copytree(ARTICLES_DIR, tmp_path / "articles")
    shutil.copy(TOOLS / "article.txt", tmp_path / "articles" / f"{ARTICLE}.txt")
    shutil.copy(LABELS_FILE, tmp_path / "labels.jsonl")
    return tmp_path


def _import(export: Path, tool: str, out: Path) -> Any:
    return run_cli("import", export, "--from", tool, "--out", out)


def _accept(project: Path, draft: Path) -> Any:
    return run_cli("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")


def _by_unit(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def _labels(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {r["id"]: {"topic": r["topic"], "stance": r["stance"]} for r in rows}


def _refused_alone(done: Any, out: Path, *needles: str) -> None:
    """Exit 1, one line about the problem (and the closing count), no traceback, nothing written."""
    assert done.code == 1, done.describe()
    assert "Traceback" not in done.err and not out.exists()
    assert done.err_lines[1:] in ([], [f"{done.args[1]}: 1 problem(s); nothing was written"]), done.err
    assert all(n in done.err_lines[0] for n in needles), done.err


# --- full reviews merge with exactly the reviewer's labels ------------------------------------------

@pytest.mark.parametrize("export, tool", [(LS / "full_review.json", "label-studio"),
                                          (LS / "full_review.json_min.json", "label-studio"),
                                          (DC / "full_review.zip", "doccano"),
                                          (DC / "full_review_json.zip", "doccano")])
def test_a_full_review_comes_back_with_exactly_the_reviewers_labels_and_merges(
        project: Path, export: Path, tool: str) -> None:
    draft = project / "draft.jsonl"
    done = _import(export, tool, draft)
    assert done.code == 0, done.describe()
    rows = read_jsonl(draft)
    assert [r["id"] for r in rows] == UNITS
    assert all(r["status"] == "reviewed" and "draft_reason" not in r for r in rows)
    assert _labels(rows) == EXPECTED
    merged = _accept(project, draft)
    assert merged.code == 0, merged.describe()
    assert _labels([r for r in read_jsonl(project / "labels.jsonl") if r["article"] == ARTICLE]) == EXPECTED
    valid = run_cli("validate", project / "labels.jsonl", "--articles", project / "articles")
    assert valid.code == 0, valid.describe()


# --- Label Studio: the edge cases -----------------------------------------------------------------------

def test_label_studio_edge_cases_stay_draft_with_the_reason_and_never_take_the_models_label(
        project: Path) -> None:
    draft = project / "draft.jsonl"
    done = _import(LS / "edge_cases_all_tasks.json", "label-studio", draft)
    assert done.code == 0, done.describe()
    rows = _by_unit(read_jsonl(draft))
    model = _by_unit(read_jsonl(TOOLS / "draft.jsonl"))
    u = [f"{ARTICLE}-{i:03d}" for i in range(12)]
    assert rows[u[0]]["status"] == "draft" and rows[u[0]]["draft_reason"] == "skipped in Label Studio"
    # Only a topic chosen: the model's stance ('neutral') is NOT filled in.
    assert (rows[u[1]]["status"], rows[u[1]]["topic"], rows[u[1]]["stance"]) == (
        "draft", "peacekeeping_monitoring", "")
    assert "no stance chosen in Label Studio" in rows[u[1]]["draft_reason"]
    assert model[u[1]]["stance"] == "neutral"
    # Two annotations that disagree: both values and who chose them, nothing picked.
    assert (rows[u[2]]["status"], rows[u[2]]["topic"], rows[u[2]]["stance"]) == ("draft", "", "")
    for value in ("'peacekeeping_monitoring' by user 1 in annotation 15",
                  "'ceasefire_terms' by user 1 in annotation 16", "'critical' by user 1"):
        assert value in rows[u[2]]["draft_reason"]
    assert f"unit {u[2]} stays draft: annotators disagree on the topic" in done.err
    # Annotated, then updated: the updated value.
    assert (rows[u[3]]["status"], rows[u[3]]["topic"], rows[u[3]]["stance"]) == (
        "reviewed", "ceasefire_terms", "neutral")
    # A label outside the scheme is kept as chosen, flagged now, refused by accept.
    assert rows[u[4]]["topic"] == "Domestic politics"
    assert "did you mean 'domestic_politics'?" in done.err
    # Two choices in the single-choice field.
    assert rows[u[5]]["topic"] == "" and rows[u[5]]["stance"] == "supportive"
    assert "several topics chosen in Label Studio ('ceasefire_terms', 'domestic_politics'" in \
        rows[u[5]]["draft_reason"]
    assert all(rows[x]["draft_reason"] == "not annotated in Label Studio" and
               (rows[x]["topic"], rows[x]["stance"]) == (model[x]["topic"], model[x]["stance"])
               for x in u[6:])
    assert "2 reviewed, 10 still draft" in done.out

    before = (project / "labels.jsonl").read_bytes()
    refused = _accept(project, draft)
    assert refused.code == 1 and "Traceback" not in refused.err
    assert f"{draft}:1: still marked draft: skipped in Label Studio" in refused.err
    assert f"{draft}:5: unknown topic 'Domestic politics' (did you mean 'domestic_politics'?)" in refused.err
    assert (f"{draft}: 10 row(s) still draft: 6 not annotated in Label Studio, 1 skipped in Label Studio, "
            "1 no stance chosen in Label Studio") in refused.err
    assert (project / "labels.jsonl").read_bytes() == before


def test_label_studio_default_export_leaves_the_unannotated_units_missing(project: Path) -> None:
    draft = project / "draft.jsonl"
    assert _import(LS / "edge_cases.json", "label-studio", draft).code == 0
    assert [r["id"] for r in read_jsonl(draft)] == [f"{ARTICLE}-{i:03d}" for i in range(6)]
    refused = _accept(project, draft)
    assert refused.code == 1
    assert all(f"unit {ARTICLE}-{i:03d} has no row" in refused.err for i in range(6, 12))


@pytest.mark.parametrize("name", ["full_review.csv", "full_review.tsv"])
def test_label_studio_csv_and_tsv_are_refused_with_the_export_to_choose(project: Path, name: str) -> None:
    out = project / "x.jsonl"
    _refused_alone(_import(LS / name, "label-studio", out), out, "CSV or TSV", "JSON (or JSON_MIN)")


def test_label_studio_export_offers_the_model_as_predictions_and_requires_both_choices(
        project: Path) -> None:
    tasks = project / "tasks.json"
    assert run_cli("export", TOOLS / "draft.jsonl", "--to", "label-studio", "--out", tasks).code == 0
    draft = read_jsonl(TOOLS / "draft.jsonl")
    exported = json.loads(tasks.read_text(encoding="utf-8"))
    assert [t["data"]["row"]["id"] for t in exported] == [r["id"] for r in draft]
    assert all("annotations" not in t for t in exported)
    assert [[r["value"]["choices"][0] for r in t["predictions"][0]["result"]] for t in exported] == [
        [r["topic"], r["stance"]] for r in draft]
    xml = (project / "tasks.xml").read_text(encoding="utf-8")
    assert xml.count('required="true"') == 2 and xml.count('choice="single"') == 2


# --- doccano: the new upload, recorded from a real doccano ----------------------------------------------

def test_doccano_export_writes_the_recorded_upload_without_labels_and_the_label_list(project: Path) -> None:
    out = project / "upload.jsonl"
    done = run_cli("export", TOOLS / "draft.jsonl", "--to", "doccano", "--out", out)
    assert done.code == 0, done.describe()
    assert out.read_text(encoding="utf-8") == (DC / "doccano_upload.jsonl").read_text(encoding="utf-8")
    assert all(r["label"] == [] for r in read_jsonl(out))
    labels = json.loads((project / "upload.labels.json").read_text(encoding="utf-8"))
    assert labels == json.loads((DC / "doccano_upload.labels.json").read_text(encoding="utf-8"))
    from karabakh_tagger.labels import TASKS

    assert [x["text"] for x in labels] == [f"{t}:{n}" for t, names in TASKS.items() for n in names]
    assert len({x["suffix_key"] for x in labels}) == len(labels)


def test_doccano_as_loaded_holds_no_label_so_nothing_comes_back_reviewed(project: Path) -> None:
    """What doccano exports right after the upload: every row a draft with the model's suggestion."""
    draft = project / "draft.jsonl"
    done = _import(DC / "upload_as_loaded.zip", "doccano", draft)
    assert done.code == 0, done.describe()
    rows = read_jsonl(draft)
    model = read_jsonl(TOOLS / "draft.jsonl")
    assert all(r["status"] == "draft" and r["draft_reason"] == "not labelled in doccano" for r in rows)
    assert [(r["id"], r["topic"], r["stance"], r["start"], r["end"]) for r in rows] == [
        (r["id"], r["topic"], r["stance"], r["start"], r["end"]) for r in model]
    assert "0 reviewed, 12 still draft (12 not labelled in doccano)" in done.out


def test_the_doccano_upload_file_itself_is_not_a_review(project: Path) -> None:
    draft = project / "draft.jsonl"
    done = _import(DC / "doccano_upload.jsonl", "doccano", draft)
    assert done.code == 0 and "this is the upload file, not an export of doccano" in done.err
    assert all(r["status"] == "draft" for r in read_jsonl(draft))


def test_doccano_partial_review_default_export(project: Path) -> None:
    draft = project / "draft.jsonl"
    done = _import(DC / "partial_review_default_export.zip", "doccano", draft)
    assert done.code == 0, done.describe()
    rows = _by_unit(read_jsonl(draft))
    reviewed = {u for u, r in rows.items() if r["status"] == "reviewed"}
    assert reviewed == {UNITS[i] for i in (0, 1, 2, 3, 5)}  # -005: labelled, not marked done
    assert _labels([rows[u] for u in reviewed]) == {u: EXPECTED[u] for u in reviewed}
    two = rows[UNITS[9]]
    assert (two["status"], two["topic"], two["stance"]) == ("draft", "", "neutral")
    assert "several topics chosen in doccano ('refugees_humanitarian', 'turkey_role' by admin)" in \
        two["draft_reason"]
    assert {u for u, r in rows.items() if r.get("draft_reason") == "not labelled in doccano"} == {
        UNITS[i] for i in (4, 6, 7, 8, 10, 11)}
    refused = _accept(project, draft)
    assert refused.code == 1
    assert (f"{draft}: 7 row(s) still draft: 6 not labelled in doccano, 1 several topics chosen in doccano"
            in refused.err)


def test_doccano_partial_review_approved_only_is_an_incomplete_article(project: Path) -> None:
    draft = project / "draft.jsonl"
    assert _import(DC / "partial_review_approved_only.zip", "doccano", draft).code == 0
    rows = read_jsonl(draft)
    assert [r["id"] for r in rows] == [UNITS[i] for i in (0, 1, 2, 3, 9)]
    refused = _accept(project, draft)
    assert refused.code == 1 and f"unit {UNITS[4]} has no row" in refused.err


def test_a_stance_the_doccano_reviewer_deleted_stays_missing(project: Path) -> None:
    draft = project / "draft.jsonl"
    done = _import(DC / "deleted_stance.zip", "doccano", draft)
    assert done.code == 0, done.describe()
    rows = _by_unit(read_jsonl(draft))
    row = rows[UNITS[4]]
    assert (row["status"], row["topic"], row["stance"]) == ("draft", "domestic_politics", "")
    assert f"unit {UNITS[4]} stays draft: no stance chosen in doccano (admin)" in done.err
    assert read_jsonl(TOOLS / "draft.jsonl")[4]["stance"] == "critical"  # the model's, not filled in
    assert all(rows[u]["status"] == "reviewed" for u in UNITS if u != UNITS[4])
    refused = _accept(project, draft)
    assert refused.code == 1 and f"{draft}:5: still marked draft: no stance chosen in doccano" in refused.err
    # The reviewer settles it by hand: set the stance and the status, and the article merges.
    fixed = [{**r, "stance": "critical", "status": "reviewed"} if r["id"] == UNITS[4] else r
             for r in read_jsonl(draft)]
    write_jsonl(draft, fixed)
    assert _accept(project, draft).code == 0


def test_a_reviewed_row_with_an_empty_task_is_refused(project: Path) -> None:
    draft = project / "draft.jsonl"
    assert _import(DC / "deleted_stance.zip", "doccano", draft).code == 0
    write_jsonl(draft, [{**r, "status": "reviewed"} for r in read_jsonl(draft)])
    refused = _accept(project, draft)
    assert refused.code == 1 and f"{draft}:5: no stance chosen (choose one of supportive" in refused.err


@pytest.mark.parametrize("name", ["two_annotators_approved_only.zip", "two_annotators_default_export.zip"])
def test_two_doccano_annotators_merge_where_they_agree_and_stay_draft_where_they_differ(
        project: Path, name: str) -> None:
    draft = project / "draft.jsonl"
    done = _import(DC / name, "doccano", draft)
    assert done.code == 0, done.describe()
    rows = _by_unit(read_jsonl(draft))
    first = rows[UNITS[0]]
    assert (first["status"], first["topic"], first["stance"]) == ("draft", "peacekeeping_monitoring", "")
    assert ("annotators disagree on the stance in doccano ('supportive' by annotator2, 'neutral' by admin)"
            in first["draft_reason"])
    assert rows[UNITS[1]]["status"] == "reviewed"  # both chose the same labels
    assert _labels([rows[u] for u in UNITS[1:]]) == {u: EXPECTED[u] for u in UNITS[1:]}


@pytest.mark.parametrize("name", ["full_review.zip", "partial_review_default_export.zip",
                                  "partial_review_approved_only.zip", "second_annotator.zip",
                                  "single_label_project.zip", "full_review.json"])
def test_an_export_of_the_old_doccano_upload_is_refused_in_one_line(project: Path, name: str) -> None:
    out = project / "x.jsonl"
    _refused_alone(_import(OLD / name, "doccano", out), out, "old doccano upload",
                   "export DRAFT --to doccano")


@pytest.mark.parametrize("path", [OLD / "full_review.csv", OLD / "full_review.fasttext.txt",
                                  DC / "full_review_csv.zip"])
def test_doccano_csv_and_fasttext_exports_are_refused_with_the_export_to_choose(
        project: Path, path: Path) -> None:
    out = project / "x.jsonl"
    _refused_alone(_import(path, "doccano", out), out, "JSONL")


# --- bad input: wrongly typed, nested, huge ---------------------------------------------------------------

def _doccano_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def _recorded(name: str, member: str = "admin.jsonl") -> list[dict[str, Any]]:
    with zipfile.ZipFile(DC / name) as archive:
        return [json.loads(line) for line in io.TextIOWrapper(archive.open(member), encoding="utf-8")]


def test_wrongly_typed_exports_are_one_line_per_problem_and_nothing_is_written(project: Path) -> None:
    rows = _recorded("full_review.zip")
    rows[2]["label"] = "stance:critical"  # a string where doccano writes a list
    rows[4]["start"] = "0"
    bad = _doccano_zip(project / "bad.zip", {"admin.jsonl": "".join(json.dumps(r) + "\n" for r in rows)})
    out = project / "x.jsonl"
    done = _import(bad, "doccano", out)
    assert done.code == 1 and not out.exists() and "Traceback" not in done.err
    assert done.err_lines == [f"{bad}:admin.jsonl:3: label must be a list of strings, got a string",
                              f"{bad}:admin.jsonl:5: field 'start' must be int, got a string",
                              f"{bad}: 2 problem(s); nothing was written"]

    tasks = json.loads((LS / "full_review.json").read_text(encoding="utf-8"))
    tasks[1]["annotations"][0]["result"][1]["value"]["choices"] = "critical"
    tasks[3]["data"]["row"]["end"] = None
    bad = project / "bad.json"
    bad.write_text(json.dumps(tasks), encoding="utf-8")
    done = _import(bad, "label-studio", out)
    assert done.code == 1 and not out.exists()
    assert done.err_lines == [f"{bad}:task 2: annotation 2: stance choices must be a list of strings, "
                              "got a string",
                              f"{bad}:task 4: data.row: field 'end' must be int, got null",
                              f"{bad}: 2 problem(s); nothing was written"]


@pytest.mark.parametrize("tool, suffix", [("label-studio", ".json"), ("doccano", ".jsonl")])
def test_an_export_nested_100000_levels_deep_is_one_line(project: Path, tool: str, suffix: str) -> None:
    bad = project / f"deep{suffix}"
    bad.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    out = project / "x.jsonl"
    _refused_alone(_import(bad, tool, out), out, "nested too deeply")


def test_huge_exports_are_refused_before_they_are_read(project: Path) -> None:
    from karabakh_tagger.corpus import MAX_BYTES

    big = project / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no disk used
    out = project / "x.jsonl"
    for tool in ("label-studio", "doccano"):
        _refused_alone(_import(big, tool, out), out, "too large")
    bomb = _doccano_zip(project / "bomb.zip", {"admin.jsonl": " " * (MAX_BYTES + 1)})
    _refused_alone(_import(bomb, "doccano", out), out, "too large unpacked")


def test_each_tool_names_the_other_for_a_file_of_its_kind(project: Path) -> None:
    out = project / "x.jsonl"
    _refused_alone(_import(LS / "full_review.json", "doccano", out), out, "--from label-studio")
    _refused_alone(_import(DC / "full_review.zip", "label-studio", out), out, "--from doccano")
    unzipped = project / "admin.jsonl"
    unzipped.write_bytes(zipfile.ZipFile(DC / "full_review.zip").read("admin.jsonl"))
    _refused_alone(_import(unzipped, "label-studio", out), out, "--from doccano")
    assert _import(unzipped, "doccano", out).code == 0  # one annotator's JSONL, unzipped, is fine
