"""`karabakh-tagger tag` through the real command line: bad inputs, exit codes, formats, equivalences.

Real processes (``runs``, started together once per module since each pays ~1.5 s of start-up):
every error case in one run, stdin beside a file with every warning case between, a megabyte line,
a folder plus a 300 KB file with --jobs 1 and 2, model problems and usage errors. Each bad input is
also run alone, and formats and options are checked, in-process through ``cli.main`` (the console
script's entry point: the same code without the interpreter start-up).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from karabakh_tagger import cli, tag
from karabakh_tagger.segment import MAX_UNIT_CHARS, segment

from conftest import FIELDS, Run, article_texts, big_crlf_text, run_many

CRLF_TEXT = (  # composed for these tests, with Windows line ends and a wrapped paragraph
    "Ceasefire holds in Nagorno-Karabakh\r\n\r\n"
    "Russian peacekeepers arrived in Stepanakert on Wednesday. Turkey wants a role in\r\n"
    "monitoring the truce, officials in Ankara said.\r\n\r\n"
    "Read more\r\n"
)
LATIN1 = "Café owners in Paris said the deal raised questions.\n".encode("latin-1")
LONG_LINE_CHARS = 1_000_000  # one line, no punctuation: several 100 000-character pieces


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, models: Path) -> dict[str, Path]:
    """Every input the module needs, good and bad, in one temp folder."""
    base = tmp_path_factory.mktemp("tag_inputs")
    f = {name: base / name for name in (
        "good.txt", "empty.txt", "blank.txt", "binary.txt", "noise.txt", "latin1.txt",
        "line.txt", "big.txt", "missing.txt")}
    f["good.txt"].write_bytes(CRLF_TEXT.encode("utf-8"))
    f["empty.txt"].write_bytes(b"")
    f["blank.txt"].write_bytes(b"  \r\n\t\n\xc2\xa0\n")  # spaces, tabs, a no-break space
    f["binary.txt"].write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;" * 50)
    f["noise.txt"].write_bytes(bytes(0x80 + (i * 37) % 0x80 for i in range(4000)))  # no NUL, no text
    f["latin1.txt"].write_bytes(LATIN1)
    f["line.txt"].write_bytes(("word " * (LONG_LINE_CHARS // 5)).encode("ascii"))
    f["big.txt"].write_bytes(big_crlf_text(250_000).encode("utf-8"))
    f["unreadable"] = f["good.txt"] / "child.txt"  # a path through a file: "Not a directory"
    # A folder of articles, written out of order so that listing order is not sorted order.
    folder = base / "articles"
    folder.mkdir()
    texts = article_texts()
    for stem in sorted(texts, reverse=True):
        (folder / f"{stem}.txt").write_bytes(texts[stem].encode("utf-8"))
    (folder / "notes.md").write_text("not an article", encoding="utf-8")
    (folder / "skip.txt.bak").write_text("not an article", encoding="utf-8")
    f["dir"] = folder
    f["empty_dir"] = base / "no_articles"
    f["empty_dir"].mkdir()
    (f["empty_dir"] / "readme.md").write_text("nothing to tag", encoding="utf-8")
    # Model folders: a tampered artifact, a missing artifact, no model at all.
    f["tampered"] = base / "tampered"
    shutil.copytree(models, f["tampered"])
    with (f["tampered"] / "fast.npz").open("ab") as handle:
        handle.write(b"\0")
    f["no_stance"] = base / "no_stance"
    shutil.copytree(models, f["no_stance"])
    (f["no_stance"] / "fast.npz").unlink()
    f["no_models"] = base / "never_trained"
    return f


@pytest.fixture(scope="module")
def runs(files: dict[str, Path], models: Path) -> dict[str, Run]:
    """The subprocess runs of this module, started together (each pays ~1.5 s of start-up)."""
    f, m = files, ("--models", models)
    cases: dict[str, tuple[list[Any], bytes | None]] = {
        # The same text from stdin and from a file, with every warning case between them: exit 0.
        "stdin_and_file": (["-", f["empty.txt"], f["blank.txt"], f["empty_dir"], f["good.txt"], *m],
                           f["good.txt"].read_bytes()),
        # Every error case in one process: each is one line, the good file is still tagged.
        "errors": ([f["missing.txt"], f["unreadable"], f["binary.txt"], f["noise.txt"], f["latin1.txt"],
                    "-", f["good.txt"], *m], b"\x00\x01\x02binary"),
        "long_line": ([f["line.txt"], *m], None),
        "tampered": ([f["good.txt"], "--models", f["tampered"]], None),
        "no_models": ([f["good.txt"], "--models", f["no_models"]], None),
        "jobs1": ([f["dir"], f["big.txt"], *m], None),
        "jobs2": ([f["dir"], f["big.txt"], "--jobs", "2", *m], None),
        "usage_jobs": ([f["good.txt"], "--jobs", "0", *m], None),
        "usage_flag": ([f["good.txt"], "--no-such-flag", *m], None),
        "usage_min_score": ([f["good.txt"], "--min-score", "1.5", *m], None),
        "usage_encoding": ([f["good.txt"], "--encoding", "no-such-codec", *m], None),
        "usage_no_path": ([*m], None),
    }
    return run_many({name: (["tag", *args], stdin) for name, (args, stdin) in cases.items()})


def _main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: Any,
          stdin: bytes = b"") -> Run:
    """``karabakh-tagger tag ARGS`` in this process, through the console script's ``cli.main``."""
    argv = ("tag", *(str(a) for a in args))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return Run(argv, code, out, err)


def _good_rows(runs: dict[str, Run], files: dict[str, Path]) -> list[dict[str, Any]]:
    """The rows of good.txt (named by its path as given), from a real process."""
    return [r for r in runs["stdin_and_file"].rows() if r["article"] == str(files["good.txt"])]


def _content(path: Path, encoding: str = "utf-8") -> str:
    return path.read_bytes().decode(encoding)


def _assert_offsets(rows: list[dict[str, Any]], content: str) -> None:
    for row in rows:
        assert content[row["start"] : row["end"]] == row["text"], row


# --- bad inputs: one line naming the input, the right exit code, never a traceback -------------

def _problem(run: Run, code: int, *needles: str, lines: int = 1) -> None:
    assert run.code == code, run.describe()
    assert "Traceback" not in run.err, run.describe()
    assert len(run.err_lines) == lines, run.describe()
    for needle in needles:
        assert needle in run.err, (needle, run.describe())


# name: (input, exit code, words of the message). Each is also in the "errors" or "stdin_and_file" run.
SINGLE_CASES = {
    "missing": ("missing.txt", 1, ["no such file"]),
    "unreadable": ("unreadable", 1, ["cannot be read"]),
    "binary": ("binary.txt", 1, ["not a text file"]),
    "undecodable": ("noise.txt", 1, ["not a text file"]),
    "latin1": ("latin1.txt", 1, ["not UTF-8", "--encoding"]),
    "binary_stdin": ("-", 1, ["stdin:", "not a text file"]),
    "empty": ("empty.txt", 0, ["warning:", "empty"]),
    "whitespace_only": ("blank.txt", 0, ["warning:", "empty"]),
    "dir_without_txt": ("empty_dir", 0, ["warning:", "no *.txt"]),
}


@pytest.mark.parametrize("case", list(SINGLE_CASES))
def test_each_bad_input_alone_exits_with_its_code_and_one_line_naming_it(
        capsys, monkeypatch, files, models, case):
    name, code, words = SINGLE_CASES[case]
    path = "-" if name == "-" else files[name]
    run = _main(capsys, monkeypatch, path, "--models", models, stdin=b"\x00\x01\x02binary")
    _problem(run, code, *words, *([] if name == "-" else [str(path)]))
    assert run.out == ""


@pytest.mark.parametrize("case", ["missing", "unreadable", "binary", "latin1"])
def test_a_bad_input_does_not_stop_the_other_inputs(capsys, monkeypatch, files, models, case):
    name, _, words = SINGLE_CASES[case]
    alone = _main(capsys, monkeypatch, files["good.txt"], "--models", models)
    run = _main(capsys, monkeypatch, files[name], files["good.txt"], "--models", models)
    _problem(run, 1, str(files[name]), *words)
    assert run.out == alone.out != ""


def test_all_error_cases_in_one_real_process(runs, files):
    run = runs["errors"]
    _problem(run, 1, lines=6)
    expected = ["missing.txt", "unreadable", "binary.txt", "noise.txt", "latin1.txt"]
    for line, name in zip(run.err_lines, expected, strict=False):
        assert line.startswith("error: ") and str(files[name]) in line, line
    assert run.err_lines[5].startswith("error: stdin: not a text file")
    assert "--encoding" in run.err_lines[4]
    assert run.rows() == _good_rows(runs, files) != []


def test_all_warning_cases_in_one_real_process_exit_0(runs, files):
    run = runs["stdin_and_file"]
    _problem(run, 0, lines=3)
    for line, name in zip(run.err_lines, ["empty.txt", "blank.txt", "empty_dir"], strict=True):
        assert line.startswith("warning: ") and str(files[name]) in line, line
    assert {r["article"] for r in run.rows()} == {"-", str(files["good.txt"])}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_file_without_read_permission_is_refused(capsys, monkeypatch, tmp_path, models):
    path = tmp_path / "secret.txt"
    path.write_text("The ceasefire holds.", encoding="utf-8")
    path.chmod(0)
    run = _main(capsys, monkeypatch, path, "--models", models)
    _problem(run, 1, str(path), "cannot be read")
    assert run.out == ""


def test_latin1_text_is_decoded_with_encoding_latin1(capsys, monkeypatch, files, models):
    run = _main(capsys, monkeypatch, files["latin1.txt"], "--encoding", "latin-1", "--models", models)
    assert run.code == 0 and run.err == "", run.describe()
    rows = run.rows()
    assert [r["text"] for r in rows] == ["Café owners in Paris said the deal raised questions."]
    _assert_offsets(rows, _content(files["latin1.txt"], "latin-1"))


def test_a_megabyte_line_without_punctuation_is_capped_not_blown_up(runs, files):
    run = runs["long_line"]
    assert run.code == 0 and run.err == "", run.describe()
    rows = run.rows()
    content = _content(files["line.txt"])
    _assert_offsets(rows, content)
    assert all(0 < r["end"] - r["start"] <= MAX_UNIT_CHARS for r in rows)
    assert len(rows) >= LONG_LINE_CHARS // MAX_UNIT_CHARS
    assert [r["index"] for r in rows] == list(range(len(rows)))
    # Nothing is lost: only white space lies before, between and after the units.
    bounds = [0, *(x for r in rows for x in (r["start"], r["end"])), len(content)]
    gaps = [content[a:b] for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
    assert all(not gap.strip() for gap in gaps)


def test_tampered_artifact_is_refused(runs, files):
    run = runs["tampered"]
    folder = files["tampered"]
    _problem(run, 1, f"{folder / 'fast.npz'} does not match {folder / 'manifest.json'}",
             "retrain with make train")
    assert run.out == ""


def test_missing_model_folder_says_run_make_train(runs, files):
    run = runs["no_models"]
    _problem(run, 1, str(files["no_models"]), "make train")
    assert run.out == ""


def test_missing_artifact_says_run_make_train(capsys, monkeypatch, files):
    run = _main(capsys, monkeypatch, files["good.txt"], "--models", files["no_stance"])
    _problem(run, 1, str(files["no_stance"] / "fast.npz"), "make train")
    assert run.out == ""


@pytest.mark.parametrize("case", ["usage_jobs", "usage_min_score", "usage_encoding"])
def test_bad_option_values_are_usage_errors(runs, case):
    _problem(runs[case], 2, "error")
    assert runs[case].out == ""


@pytest.mark.parametrize("case", ["usage_flag", "usage_no_path"])
def test_argparse_usage_errors_exit_2_without_traceback(runs, case):
    run = runs[case]
    assert run.code == 2, run.describe()
    assert "Traceback" not in run.err and "error:" in run.err
    assert run.out == ""


# --- output: fields, offsets, equivalences ----------------------------------------------------

def test_jsonl_rows_have_the_documented_fields_in_order_and_offsets_slice_back(runs, files):
    assert runs["stdin_and_file"].code == 0
    rows = _good_rows(runs, files)
    assert [list(r) for r in rows] == [FIELDS] * len(rows)
    assert [r["index"] for r in rows] == list(range(len(rows)))
    assert [r["text"] for r in rows] == [u.text for u in segment(CRLF_TEXT)]
    assert len(rows) == 4  # the headline, two sentences (one wrapped over two lines), "Read more"
    _assert_offsets(rows, _content(files["good.txt"]))
    assert any("\r\n" in r["text"] for r in rows)  # the wrapped sentence keeps its CRLF
    for r in rows:
        assert 0 <= r["topic_score"] <= 1 and 0 <= r["stance_score"] <= 1


def test_stdin_and_file_give_the_same_rows_except_the_article_name(runs, files):
    run = runs["stdin_and_file"]
    assert run.code == 0, run.describe()
    from_stdin = [r for r in run.rows() if r["article"] == "-"]
    from_file = _good_rows(runs, files)
    assert len(from_stdin) + len(from_file) == len(run.rows())
    strip = [[{k: v for k, v in r.items() if k != "article"} for r in rows]
             for rows in (from_file, from_stdin)]
    assert strip[0] == strip[1]


def test_directory_is_tagged_in_sorted_order_and_jobs_2_equals_jobs_1(runs, files):
    one, two = runs["jobs1"], runs["jobs2"]
    assert one.code == 0 and one.err == "", one.describe()
    assert two.code == 0 and two.err == "", two.describe()
    assert two.out == one.out
    rows = one.rows()
    order = list(dict.fromkeys(r["article"] for r in rows))
    assert order == [*(str(files["dir"] / f"{stem}.txt") for stem in sorted(article_texts())),
                     str(files["big.txt"])]
    contents = {str(p): _content(p) for p in sorted(files["dir"].glob("*.txt"))}
    contents[str(files["big.txt"])] = _content(files["big.txt"])
    assert len(contents[str(files["big.txt"])]) > 2 * tag.CHUNK_CHARS  # several pieces and batches
    for name, content in contents.items():
        mine = [r for r in rows if r["article"] == name]
        assert [r["index"] for r in mine] == list(range(len(mine)))
        _assert_offsets(mine, content)


# --- formats and options, in-process through cli.main --------------------------------------------

def _tag(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    code = cli.main(["tag", *(str(a) for a in args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_has_a_header_and_the_documented_columns(capsys, files, models):
    code, out, err = _tag(capsys, files["good.txt"], "--format", "csv", "--models", models)
    assert code == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert out.split("\n", 1)[0].split(",") == FIELDS
    assert len(rows) == 4
    _assert_offsets([{**r, "start": int(r["start"]), "end": int(r["end"])} for r in rows],
                    _content(files["good.txt"]))


def test_csv_with_probs_and_min_score_adds_columns(capsys, files, models):
    code, out, _ = _tag(capsys, files["good.txt"], "--format", "csv", "--probs", "--min-score", "0.5",
                        "--models", models)
    assert code == 0
    reader = csv.DictReader(io.StringIO(out, newline=""))
    rows = list(reader)
    columns = reader.fieldnames or []
    assert columns[: len(FIELDS)] == FIELDS and columns[-1] == "uncertain"
    topic_cols = [c for c in columns if c.startswith("topic_p_")]
    stance_cols = [c for c in columns if c.startswith("stance_p_")]
    assert len(topic_cols) == 9 and len(stance_cols) == 3
    for row in rows:
        assert sum(float(row[c]) for c in topic_cols) == pytest.approx(1, abs=1e-3)
        assert row["uncertain"] == str(float(row["topic_score"]) < 0.5)


def test_table_has_a_header_and_one_line_per_unit(capsys, files, models):
    code, out, _ = _tag(capsys, files["good.txt"], "--format", "table", "--models", models)
    _, jsonl, _ = _tag(capsys, files["good.txt"], "--models", models)
    assert code == 0
    lines = out.rstrip("\n").split("\n")
    rows = [json.loads(line) for line in jsonl.splitlines()]
    assert lines[0].split()[:3] == ["article", "#", "topic"]
    assert len(lines) == 1 + len(rows)
    for line, row in zip(lines[1:], rows, strict=True):
        # a long path keeps its end: an ellipsis and the last 21 characters
        assert line.split()[:3] == ["…" + row["article"][-21:], str(row["index"]), row["topic"]]


def test_probs_adds_probabilities_that_sum_to_one(capsys, files, models):
    code, out, _ = _tag(capsys, files["good.txt"], "--probs", "--models", models)
    assert code == 0
    for row in map(json.loads, out.splitlines()):
        assert list(row) == [*FIELDS, "topic_probs", "stance_probs"]
        for task in ("topic", "stance"):
            probs = row[f"{task}_probs"]
            assert sum(probs.values()) == pytest.approx(1, abs=1e-3)
            assert probs[row[task]] == row[f"{task}_score"] == max(probs.values())
        assert len(row["topic_probs"]) == 9 and list(row["stance_probs"]) == [
            "supportive", "critical", "neutral"]


@pytest.mark.parametrize("threshold", [0.0, 0.35, 1.0])
def test_min_score_marks_uncertain_units_and_hides_nothing(capsys, files, models, threshold):
    _, plain, _ = _tag(capsys, files["good.txt"], "--models", models)
    code, out, _ = _tag(capsys, files["good.txt"], "--min-score", threshold, "--models", models)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(plain.splitlines())
    for row in rows:
        assert list(row)[-1] == "uncertain"
        assert row["uncertain"] is (row["topic_score"] < threshold)
    if threshold == 0.0:
        assert not any(r["uncertain"] for r in rows)
    if threshold == 1.0:
        assert all(r["uncertain"] for r in rows)


def test_summary_counts_add_up_and_shares_are_fractions(capsys, files, models):
    code, out, err = _tag(capsys, files["dir"], "--summary", "--models", models)
    assert code == 0 and err == ""
    summaries = [json.loads(line) for line in out.splitlines()]
    _, units_out, _ = _tag(capsys, files["dir"], "--models", models)
    units = [json.loads(line) for line in units_out.splitlines()]
    names = [str(files["dir"] / f"{stem}.txt") for stem in sorted(article_texts())]
    assert [s["article"] for s in summaries] == names
    assert sum(s["units"] for s in summaries) == len(units)
    for s in summaries:
        n = sum(u["article"] == s["article"] for u in units)
        assert s["units"] == n == sum(s["topics"].values()) == sum(s["stances"].values())
        assert list(s["stances"]) == ["supportive", "critical", "neutral"]
        for share in ("critical_share", "supportive_share"):
            assert s[share] is None or 0 <= s[share] <= 1
        if s["critical_share"] is not None:
            assert s["critical_share"] + s["supportive_share"] == pytest.approx(1, abs=1e-3)


def test_summary_as_csv_and_table(capsys, files, models):
    _, out, _ = _tag(capsys, files["dir"], "--summary", "--models", models)
    summaries = [json.loads(line) for line in out.splitlines()]
    code, out, _ = _tag(capsys, files["dir"], "--summary", "--format", "csv", "--models", models)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["article"] for r in rows] == [s["article"] for s in summaries]
    for row, s in zip(rows, summaries, strict=True):
        assert int(row["units"]) == s["units"]
        assert sum(int(v) for k, v in row.items() if k.startswith("topic_")) == s["units"]
    code, out, _ = _tag(capsys, files["dir"], "--summary", "--format", "table", "--models", models)
    assert code == 0
    for s in summaries:
        assert f"{s['article']}: {s['units']} units" in out


@pytest.mark.parametrize("encoding", ["klingon", "rot13"])  # no codec; a codec but not for text
def test_unknown_encoding_is_one_usage_error_not_one_error_per_input(capsys, files, models, encoding):
    code, out, err = _tag(capsys, files["good.txt"], files["latin1.txt"], "--encoding", encoding,
                          "--models", models)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and encoding in err


# --- text in other encodings ------------------------------------------------------------------

def test_short_cyrillic_cp1251_text_gets_the_encoding_hint(capsys, tmp_path, models):
    path = tmp_path / "ru.txt"
    path.write_bytes("Путин подписал соглашение о прекращении огня.".encode("cp1251"))
    code, _, err = _tag(capsys, path, "--models", models)
    assert code == 1 and "--encoding" in err


def test_utf16_text_is_read_with_encoding_utf16(capsys, tmp_path, models):
    path = tmp_path / "u16.txt"
    path.write_bytes("Putin signed the ceasefire agreement.".encode("utf-16"))
    code, out, _ = _tag(capsys, path, "--encoding", "utf-16", "--models", models)
    assert code == 0 and "Putin signed" in out
