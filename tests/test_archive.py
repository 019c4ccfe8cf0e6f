"""`tag-archive` and `summarize` on a real LocalCluster of 2 worker processes (started once here).

The archive is the corpus articles and tests/data/composed_article.txt, written as a folder of
*.txt, a JSON-lines file and a Parquet file; every run's rows are compared with those of
`karabakh-tagger tag` on the same articles. Faults are real: a worker process is killed with
SIGKILL mid-run, the CLI is interrupted with SIGINT, input files are damaged on disk, a model file
is tampered with.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from karabakh_tagger import archive
from karabakh_tagger.labels import TASKS
from karabakh_tagger.summary import render, summarize

from conftest import DATA, ENV, FIELDS, ROOT, article_texts, run_cli, run_many

OUTLETS = ("Wire A", "Outlet B", "Outlet C")


# --- the archive and the reference rows ----------------------------------------------------------

def _articles() -> dict[str, str]:
    texts = article_texts()
    texts["composed_article"] = (DATA / "composed_article.txt").read_bytes().decode("utf-8")
    return texts


def _meta(k: int, ident: str) -> dict[str, Any]:
    return {"id": ident, "outlet": OUTLETS[k % 3], "date": f"2020-11-{17 + k % 3}",
            "url": f"https://example.org/{ident}"}


def _records(copies: int = 1) -> list[dict[str, Any]]:
    """Article rows: every article once per copy, ids ``c{copy}-{stem}`` past the first copy."""
    out = []
    for c in range(copies):
        for k, (stem, text) in enumerate(_articles().items()):
            ident = stem if c == 0 else f"c{c}-{stem}"
            out.append({**_meta(k, ident), "text": text})
    return out


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _write_parquet(path: Path, rows: list[dict[str, Any]], group: int = 2) -> Path:
    columns = {key: [r.get(key) for r in rows] for key in rows[0]}
    pq.write_table(pa.table(columns), path, row_group_size=group)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("archive_in")
    folder = base / "txt"
    folder.mkdir()
    for stem, text in _articles().items():
        (folder / f"{stem}.txt").write_bytes(text.encode("utf-8"))
    return {"txt": folder, "jsonl": _write_jsonl(base / "news.jsonl", _records()),
            "parquet": _write_parquet(base / "news.parquet", _records()), "base": base}


@pytest.fixture(scope="module")
def tag_rows(inputs: dict[str, Path], models: Path) -> list[dict[str, Any]]:
    """What `karabakh-tagger tag` writes for the archive's articles, each named by its id (the file
    stem: `tag` names an article by its path as given, the JSONL and Parquet records by their id)."""
    run = run_cli("tag", inputs["txt"], "--models", models)
    assert run.code == 0, run.describe()
    assert {r["article"] for r in run.rows()} == {str(inputs["txt"] / f"{s}.txt") for s in _articles()}
    return [{**r, "article": Path(r["article"]).stem} for r in run.rows()]


def _expected(tag_rows: list[dict[str, Any]], copies: int = 1) -> list[dict[str, Any]]:
    """`tag`'s rows for ``_records(copies)``: the same units, under each copy's id."""
    out = []
    for c in range(copies):
        for row in tag_rows:
            out.append({**row, "article": row["article"] if c == 0 else f"c{c}-{row['article']}"})
    return out


def _rows(out: Path) -> list[dict[str, Any]]:
    """Every output row, partition by partition (the input order)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(out.glob("part-*.*")):
        if path.suffix == ".parquet":
            rows += pq.read_table(path).to_pylist()
        else:
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def _tag_fields(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f: r[f] for f in FIELDS} for r in rows]


def _run_json(out: Path) -> dict[str, Any]:
    return json.loads((out / archive.RUN_FILE).read_text(encoding="utf-8"))


def _leftovers(out: Path) -> list[str]:
    """Temp files of a write that did not finish."""
    return [p.name for p in [*out.glob(".*.tmp"), *(out / archive.PARTS_DIR).glob(".*.tmp")]]


# --- the cluster -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes (one thread each), as tag-archive starts it."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as c:
        yield c


def _loads() -> list[tuple[str, str, str]]:
    return list(archive.LOADS)


def _pid() -> int:
    return os.getpid()


# --- rows equal to `tag`'s -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["txt", "jsonl", "parquet"])
def test_rows_equal_those_of_tag_in_every_input_format(kind: str, inputs: dict[str, Path], models: Path,
                                                      tag_rows: list[dict[str, Any]], client: Any,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = archive.tag_archive([str(inputs[kind])], out, client, models_dir=models, partition_size=2)
    assert summary.ok and summary.partitions == 3 and summary.tagged == 3 and summary.failed == 0
    rows = _rows(out)
    if kind == "txt":  # named by the path as given, as tag names them
        assert _tag_fields(rows) == [{**r, "article": str(inputs["txt"] / f"{r['article']}.txt")}
                                     for r in tag_rows]
    else:
        assert _tag_fields(rows) == tag_rows
    assert summary.units == len(tag_rows) and summary.articles == len(_articles())
    if kind != "txt":  # the article columns are carried onto each of its units
        meta = {r["id"]: r for r in _records()}
        for row in rows:
            given = meta[row["article"]]
            assert {c: row[c] for c in archive.CARRIED} == {c: given[c] for c in archive.CARRIED}
    else:
        assert {r["source"] for r in rows} == {str(inputs["txt"] / f"{s}.txt") for s in _articles()}
    run = _run_json(out)
    assert run["counts"]["units"] == len(tag_rows) and run["failures"] == []
    assert [p["status"] for p in run["partitions"]] == ["tagged"] * 3
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [archive.LOCK_FILE, archive.PARTS_DIR, archive.RUN_FILE, "part-00000.parquet", "part-00001.parquet",
         "part-00002.parquet"])


def test_each_worker_loads_the_model_once(inputs: dict[str, Path], models: Path, client: Any,
                                          tmp_path: Path) -> None:
    summary = archive.tag_archive([str(inputs["jsonl"])], tmp_path / "out", client, models_dir=models,
                                  partition_size=1)
    assert summary.tagged == 6
    for worker, loads in client.run(_loads).items():
        assert len(loads) == len(set(loads)), f"{worker} loaded one model {len(loads)} times"


def test_cli_starts_a_local_cluster_resumes_and_summarizes(inputs: dict[str, Path], models: Path,
                                                           tag_rows: list[dict[str, Any]],
                                                           tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("tag-archive", inputs["jsonl"], "--out", out, "--models", models, "--workers", "2",
            "--partition-size", "4", "--format", "jsonl")
    first = run_cli(*args, timeout=120)
    assert first.code == 0, first.describe()
    assert first.err_lines == []
    assert "6 articles" in first.out and "2 tagged" in first.out
    assert _tag_fields(_rows(out)) == tag_rows
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.jsonl", "part-00001.jsonl"]
    again = run_cli(*args, timeout=120)
    assert again.code == 0, again.describe()
    assert again.err_lines == ["resuming: 2 partition(s) already done, 0 to tag"]
    assert _tag_fields(_rows(out)) == tag_rows
    shown = run_cli("summarize", out, "--out", tmp_path / "summary.md")
    assert shown.code == 0, shown.describe()
    assert shown.out == (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert (tmp_path / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for outlet in OUTLETS:
        assert f"| {outlet} |" in shown.out
    assert _run_json(out)["model"]["version"] in shown.out


# --- resume ------------------------------------------------------------------------------------

def test_resume_after_an_interrupt_tags_only_what_is_missing(inputs: dict[str, Path], models: Path,
                                                             tag_rows: list[dict[str, Any]], client: Any,
                                                             tmp_path: Path) -> None:
    copies = 40
    source = _write_jsonl(tmp_path / "many.jsonl", _records(copies))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "karabakh_tagger.cli", "tag-archive", str(source), "--out", str(out),
            "--models", str(models), "--scheduler", client.scheduler.address, "--partition-size", "1"]
    process = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(list((out / archive.PARTS_DIR).glob("part-*.json"))) < 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no partition was written"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err.decode()
    assert err.decode().splitlines() == ["interrupted"]
    assert not (out / archive.RUN_FILE).exists()
    done = len(list((out / archive.PARTS_DIR).glob("part-*.json")))
    total = copies * len(_articles())
    assert 5 <= done < total
    time.sleep(0.5)  # the tasks the cluster was running when the client left finish or are dropped
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    summary = archive.tag_archive([str(source)], out, client, models_dir=models, partition_size=1)
    assert summary.ok and summary.skipped >= done and summary.skipped + summary.tagged == total
    assert _tag_fields(_rows(out)) == _expected(tag_rows, copies)
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet") if p.name in before}
    assert sum(kept[n] == before[n] for n in kept) == summary.skipped  # skipped files were not rewritten
    assert _leftovers(out) == []


def test_resume_redoes_a_changed_input_and_overwrite_redoes_all(inputs: dict[str, Path], models: Path,
                                                                client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "txt"
    folder.mkdir()
    for path in inputs["txt"].glob("*.txt"):
        (folder / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    run = lambda **kw: archive.tag_archive([str(folder)], out, client, models_dir=models,  # noqa: E731
                                           partition_size=2, **kw)
    assert run().tagged == 3
    changed = sorted(folder.glob("*.txt"))[-1]
    changed.write_bytes(changed.read_bytes() + b"\nA new closing sentence was added to the article.\n")
    again = run()
    assert (again.tagged, again.skipped) == (1, 2)
    assert any(r["text"] == "A new closing sentence was added to the article." for r in _rows(out))
    redo = run(overwrite=True)
    assert (redo.tagged, redo.skipped) == (3, 0)
    fewer = archive.tag_archive([str(folder)], out, client, models_dir=models, partition_size=3)
    assert (fewer.tagged, fewer.partitions) == (2, 2)
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.parquet", "part-00001.parquet"]
    records = sorted(p.name for p in (out / archive.PARTS_DIR).iterdir())
    assert records == ["part-00000.json", "part-00001.json"]


# --- faults ------------------------------------------------------------------------------------

def test_a_killed_worker_gives_complete_output_without_duplicates(
        models: Path, tag_rows: list[dict[str, Any]], client: Any, tmp_path: Path) -> None:
    copies = 20
    source = _write_jsonl(tmp_path / "many.jsonl", _records(copies))
    pids = client.run(_pid)
    killed: dict[str, Any] = {}

    def kill_one(result: archive.PartResult) -> None:
        if killed:
            return
        for address, keys in client.processing().items():
            if keys:  # a worker with a partition in hand
                os.kill(pids[address], signal.SIGKILL)
                killed.update(pid=pids[address], keys=set(keys))
                return

    out = tmp_path / "out"
    summary = archive.tag_archive([str(source)], out, client, models_dir=models, partition_size=1,
                                  on_partition=kill_one)
    client.wait_for_workers(2, timeout=60)
    assert killed, "no worker had a partition in hand"
    assert summary.ok and summary.failed == 0 and summary.tagged == copies * len(_articles())
    rows = _rows(out)
    assert _tag_fields(rows) == _expected(tag_rows, copies)
    assert not [k for k, n in Counter((r["article"], r["index"]) for r in rows).items() if n > 1]
    assert _leftovers(out) == []
    workers = {p["name"]: p["worker"] for p in _run_json(out)["partitions"]}
    retried = [name for name in workers if any(name in key for key in killed["keys"])]
    assert retried and all(not workers[name].endswith(f":{killed['pid']}") for name in retried)


def test_bad_partitions_and_rows_are_reported_and_the_rest_completes(inputs: dict[str, Path], models: Path,
                                                                     tag_rows: list[dict[str, Any]],
                                                                     client: Any, tmp_path: Path) -> None:
    records = _records()
    lines = [json.dumps(r) for r in records[:3]] + ["{not json", json.dumps({"id": "no-text", "title": "x"}),
                                                    json.dumps({"id": "blank", "text": "  \n"})]
    (tmp_path / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_parquet(tmp_path / "more.parquet", [*records[3:], {**records[3], "id": "null", "text": None}])
    damaged = _write_parquet(tmp_path / "damaged.parquet", records, group=3)
    data = bytearray(damaged.read_bytes())  # scramble the second row group's text column
    chunk = pq.read_metadata(damaged).row_group(1).column(list(records[0]).index("text"))
    data[chunk.data_page_offset:chunk.data_page_offset + 40] = b"\xab" * 40
    damaged.write_bytes(bytes(data))
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 this is not a parquet file")
    out = tmp_path / "out"
    run = run_cli("tag-archive", tmp_path / "news.jsonl", tmp_path / "more.parquet", damaged,
                  tmp_path / "garbage.parquet", tmp_path / "missing.jsonl", "--out", out, "--models", models,
                  "--scheduler", client.scheduler.address, "--partition-size", "3", timeout=120)
    assert run.code == 1, run.describe()
    failures = _run_json(out)["failures"]
    where = [(f["partition"], f["source"], f["row"]) for f in failures]
    news, more = str(tmp_path / "news.jsonl"), str(tmp_path / "more.parquet")
    assert where == [(None, str(tmp_path / "garbage.parquet"), None),
                     (None, str(tmp_path / "missing.jsonl"), None),
                     ("part-00001", news, 4), ("part-00001", news, 5), ("part-00001", news, 6),
                     ("part-00003", more, 4), ("part-00005", str(damaged), None)]
    reasons = [f["reason"] for f in failures]
    assert reasons[0].startswith("not a readable Parquet file") and reasons[1] == "no such file or folder"
    assert reasons[2].startswith("not valid JSON") and reasons[3] == "no 'text' (missing or null)"
    assert reasons[4] == "no text (empty)" and reasons[5] == "no 'text' (missing or null)"
    assert reasons[6].startswith("cannot be read")
    # stderr has them as the partitions finish (in any order), _run.json in partition order
    assert sorted(line for line in run.err_lines if line.startswith("error:")) == sorted(
        archive.Problem(**f).line() for f in failures)
    assert run.err_lines[-1] == f"7 problem(s), listed in {out / archive.RUN_FILE}"
    statuses = {p["name"]: p["status"] for p in _run_json(out)["partitions"]}
    assert statuses == {"part-00000": "tagged", "part-00001": "tagged", "part-00002": "tagged",
                        "part-00003": "tagged", "part-00004": "tagged", "part-00005": "failed"}
    by_article = {r["id"]: i for i, r in enumerate(records)}
    # every article once from news.jsonl and more.parquet, the first three again from damaged.parquet
    assert _tag_fields(_rows(out)) == tag_rows + [r for r in tag_rows if by_article[r["article"]] < 3]
    assert "Traceback" not in run.err


def test_a_model_that_fails_verification_stops_the_run_before_any_partition(
        inputs: dict[str, Path], models: Path, models_copy: Path, client: Any, tmp_path: Path) -> None:
    with (models_copy / "fast.npz").open("ab") as handle:
        handle.write(b"\0")
    out = tmp_path / "out"
    runs = run_many({
        "scheduler": (("tag-archive", inputs["txt"], "--out", out, "--models", models_copy, "--scheduler",
                       client.scheduler.address), None),
        "local": (("tag-archive", inputs["txt"], "--out", out, "--models", models_copy), None),
        "none": (("tag-archive", inputs["txt"], "--out", out, "--models", tmp_path / "never"), None),
        "family": (("tag-archive", inputs["txt"], "--out", out, "--models", models, "--model", "encoder",
                    "--scheduler", client.scheduler.address), None)})
    for run in runs.values():
        assert run.code == 1, run.describe()
        assert len(run.err_lines) == 1 and run.err_lines[0].startswith("error: "), run.describe()
    assert all("fast.npz does not match" in runs[name].err for name in ("scheduler", "local"))
    assert "no trained model here" in runs["none"].err
    assert "no encoder model in this folder" in runs["family"].err  # the tiny models are the baseline's
    assert not out.exists()


def test_a_worker_refuses_a_model_folder_other_than_the_one_checked(models: Path) -> None:
    from dataclasses import replace

    ref = archive.model_ref(models, "auto")
    other = replace(ref, manifest_sha256="0" * 64, manifest=replace(ref.manifest, created="1999-01-01"))
    with pytest.raises(archive.ModelError, match="not the model folder the run was started with"):
        archive.worker_tagger(other)


def test_usage_and_output_folder_errors(inputs: dict[str, Path], models: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    runs = run_many({
        "foreign": (("tag-archive", inputs["txt"], "--out", foreign, "--models", models), None),
        "size": (("tag-archive", inputs["txt"], "--out", tmp_path / "o", "--partition-size", "0"), None),
        "both": (("tag-archive", inputs["txt"], "--out", tmp_path / "o", "--workers", "2", "--scheduler",
                  "tcp://127.0.0.1:1"), None),
        "summarize": (("summarize", tmp_path / "nothing"), None)})
    assert runs["foreign"].code == 1 and runs["foreign"].err_lines == [
        f"error: {foreign}: not empty and not a tag-archive output (no _run.json); choose an empty or new "
        "folder"]
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert runs["size"].code == 2 and runs["both"].code == 2
    assert runs["summarize"].code == 1 and len(runs["summarize"].err_lines) == 1


# --- planning, without a cluster ----------------------------------------------------------------

@pytest.mark.parametrize("ending", [b"\n", b"", b"\r\n"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_jsonl_ranges_cover_every_line_once(ending: bytes, size: int, tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "text": "x" * (i % 5)}).encode() for i in range(11)]
    lines[4] = b""  # a blank line keeps its number
    path = tmp_path / "a.jsonl"
    path.write_bytes((b"\r\n" if ending == b"\r\n" else b"\n").join(lines) + ending)
    ranges = list(archive._jsonl_ranges(path, size))
    data = path.read_bytes()
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert [r[2] for r in ranges] == list(range(1, 12, size))
    assert sum(r[3] for r in ranges) == 11
    for start, stop, _, n in ranges:
        assert data[start:stop].count(b"\n") + (not data[start:stop].endswith(b"\n")) == n


def test_parquet_partitions_read_back_every_row_once(tmp_path: Path) -> None:
    rows = [{"id": f"a{i}", "text": f"Sentence number {i}.", "outlet": None if i % 4 else "X"}
            for i in range(23)]
    path = _write_parquet(tmp_path / "a.parquet", rows, group=5)
    options = archive.Options()
    for size in (1, 4, 5, 6, 23, 50):
        parts, problems = archive.plan([str(path)], options, size)
        assert problems == []
        names, carried = [], []
        for part in parts:
            read = archive._Read()
            archive._read_parquet(part, options, read)
            names += read.names
            carried += read.carried["outlet"]
        assert names == [r["id"] for r in rows] and carried == [r["outlet"] for r in rows]


def test_plan_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text\nx\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    _write_parquet(tmp_path / "other.parquet", [{"body": "x"}])
    parts, problems = archive.plan([str(tmp_path / "a.csv"), str(tmp_path / "empty"),
                                    str(tmp_path / "other.parquet")], archive.Options(), 10)
    assert parts == []
    assert [p.reason for p in problems] == [
        "not a .txt, .jsonl or .parquet file", "no *.txt files in this folder",
        "no 'text' column (columns: body); pass --text-column"]


# --- summarize ---------------------------------------------------------------------------------

def test_summarize_counts_match_the_rows(inputs: dict[str, Path], models: Path, client: Any,
                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    archive.tag_archive([str(inputs["parquet"])], out, client, models_dir=models, partition_size=4)
    rows = _rows(out)
    for by, column in (("outlet", "outlet"), ("date", "date"), ("article", "article")):
        summary = summarize(out, by)
        assert summary.by == by
        groups = {g.name: g for g in summary.groups}
        assert set(groups) == {r[column] for r in rows}
        for name, group in groups.items():
            mine = [r for r in rows if r[column] == name]
            assert group.units == len(mine)
            assert group.topics == dict(Counter(r["topic"] for r in mine))
            assert abs(sum(group.share(s) for s in TASKS["stance"]) - 1) < 1e-9
        assert summary.total.units == len(rows)
    assert [g.name for g in summarize(out, "date").groups] == ["2020-11-17", "2020-11-18", "2020-11-19"]
    assert summarize(out).by == "outlet"  # auto: three outlets
    text = render(summarize(out, "outlet"))
    assert "not labels" in text and _run_json(out)["model"]["version"] in text
    assert "it was not evaluated" in text  # the tiny test models never were
    run = _run_json(out)
    run["model"]["evaluation"] = {task: {"loao_macro_f1": score, "loao_accuracy": 0.7, "lobo_macro_f1": 0.8,
                                         "best_dummy_loao_macro_f1": 0.1, "f_avg": None}
                                  for task, score in (("topic", 0.476), ("stance", 0.623))}
    (out / archive.RUN_FILE).write_text(json.dumps(run), encoding="utf-8")
    assert "0.48 for topic and 0.62 for stance" in summarize(out).caveat
    (out / archive.RUN_FILE).unlink()
    assert "did not finish" in render(summarize(out))


def test_txt_files_that_tag_refuses_are_reported_per_file(inputs: dict[str, Path], models: Path,
                                                          tag_rows: list[dict[str, Any]], client: Any,
                                                          tmp_path: Path) -> None:
    folder = tmp_path / "txt"
    folder.mkdir()
    for path in sorted(inputs["txt"].glob("*.txt"))[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "x1_binary.txt").write_bytes(b"GIF89a\x01\x00\x00\x00;" * 20)
    (folder / "x2_latin1.txt").write_bytes("Café owners said the deal raised questions.\n".encode("latin-1"))
    (folder / "x3_empty.txt").write_bytes(b"")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    notes: list[str] = []
    summary = archive.tag_archive([str(folder), str(tmp_path / "empty.jsonl")], tmp_path / "out", client,
                                  models_dir=models, partition_size=10, log=notes.append)
    assert [(p.partition, Path(p.source).name, p.row) for p in summary.problems] == [
        ("part-00000", "x1_binary.txt", None), ("part-00000", "x2_latin1.txt", None),
        ("part-00000", "x3_empty.txt", None)]
    assert [p.reason for p in summary.problems] == [
        "not a text file (it contains NUL bytes)",
        "not UTF-8 (invalid byte at 3); pass --encoding, for example --encoding latin-1", "no text (empty)"]
    assert notes == [f"warning: {tmp_path / 'empty.jsonl'}: empty; no articles"]
    first_two = {p.stem for p in sorted(inputs["txt"].glob("*.txt"))[:2]}
    assert _tag_fields(_rows(tmp_path / "out")) == [{**r, "article": str(folder / f"{r['article']}.txt")}
                                                    for r in tag_rows if r["article"] in first_two]
    latin = archive.tag_archive([str(folder / "x2_latin1.txt")], tmp_path / "latin", client,
                                models_dir=models, encoding="latin-1")
    assert latin.ok and _rows(tmp_path / "latin")[0]["text"].startswith("Café")
