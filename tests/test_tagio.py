"""The tag command's I/O: reading inputs, and each output format on hand-made units."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from karabakh_tagger.tag import TaggedUnit
from karabakh_tagger.tagio import COLUMNS, Writer, iter_articles

CLASSES = {"topic": ["ceasefire_terms", "other"], "stance": ["supportive", "critical", "neutral"]}
UNITS = [
    TaggedUnit("a", 0, 0, 20, "Truce observers land", "ceasefire_terms", 0.81, "neutral", 0.66,
               {"ceasefire_terms": 0.81, "other": 0.19},
               {"supportive": 0.1, "critical": 0.24, "neutral": 0.66}),
    TaggedUnit("a", 1, 22, 31, "Read more", "other", 0.42, "neutral", 0.91,
               {"ceasefire_terms": 0.58, "other": 0.42},
               {"supportive": 0.0, "critical": 0.09, "neutral": 0.91}),
]


def _write(fmt: str, probs: bool = False, min_score: float | None = None) -> str:
    out = io.StringIO()
    writer = Writer(out, fmt, probs, min_score, CLASSES)
    writer.units(UNITS[:1])
    writer.units(UNITS[1:])
    return out.getvalue()


def test_jsonl_is_one_object_per_unit_in_the_documented_order() -> None:
    rows = [json.loads(line) for line in _write("jsonl").splitlines()]
    assert [list(r) for r in rows] == [COLUMNS] * 2
    assert rows[1]["text"] == "Read more" and rows[1]["topic_score"] == 0.42


def test_min_score_adds_uncertain_to_every_row_true_only_below_it() -> None:
    rows = [json.loads(line) for line in _write("jsonl", min_score=0.5).splitlines()]
    assert [r["uncertain"] for r in rows] == [False, True]


def test_csv_has_one_header_across_batches_and_flat_probabilities() -> None:
    text = _write("csv", probs=True, min_score=0.5)
    assert text.count("article,index") == 1
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["topic_p_other"] == "0.19" and rows[1]["stance_p_critical"] == "0.09"
    assert [r["uncertain"] for r in rows] == ["False", "True"]


def test_table_has_a_header_a_line_per_unit_and_marks_the_uncertain() -> None:
    lines = _write("table", min_score=0.5).splitlines()
    assert lines[0].split()[:3] == ["article", "#", "topic"] and len(lines) == 3
    assert lines[1].split()[:3] == ["a", "0", "ceasefire_terms"] and "?" not in lines[1]
    assert "0.42?" in lines[2]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
def test_summary_counts_and_shares(fmt: str) -> None:
    out = io.StringIO()
    Writer(out, fmt, False, None, CLASSES).summary("a", Counter({"other": 2, "ceasefire_terms": 1}),
                                                   Counter({"critical": 3, "supportive": 1}))
    text = out.getvalue()
    if fmt == "jsonl":
        row = json.loads(text)
        assert row["units"] == 3 and row["critical_share"] == 0.75 and row["supportive_share"] == 0.25
        assert row["topics"] == {"ceasefire_terms": 1, "other": 2}
    elif fmt == "csv":
        row = next(csv.DictReader(io.StringIO(text)))
        assert row["units"] == "3" and row["topic_other"] == "2" and row["stance_critical"] == "3"
    else:
        assert text.startswith("a: 3 units") and "critical 75% / supportive 25%" in text


def test_inputs_are_files_folders_and_stdin_and_problems_are_reported(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b.txt").write_text("Second.", encoding="utf-8")
    (tmp_path / "dir" / "a.txt").write_text("First.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text(" \n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"From stdin.")))
    errors: list[str] = []
    warnings: list[str] = []
    got = list(iter_articles([str(tmp_path / "dir"), "-", str(tmp_path / "empty.txt"),
                              str(tmp_path / "missing.txt")], None, errors.append, warnings.append))
    assert [text for _, text in got] == ["First.", "Second.", "From stdin."]
    # The name is the path as given (a folder's files under the folder as given), "-" for stdin.
    assert [name for name, _ in got] == [str(tmp_path / "dir" / n) for n in ("a.txt", "b.txt")] + ["-"]
    assert len(errors) == 1 and "missing.txt: no such file" in errors[0]
    assert len(warnings) == 1 and "empty.txt: empty; no units" in warnings[0]


def test_a_folders_files_are_named_under_the_folder_as_given(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text("First.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for given, name in [("dir", "dir/a.txt"), ("dir/", "dir/a.txt"), ("./dir", "./dir/a.txt"),
                        ("dir/a.txt", "dir/a.txt"), ("./dir/../dir/a.txt", "./dir/../dir/a.txt")]:
        assert [n for n, _ in iter_articles([given], None, print, print)] == [name], given


def test_table_replaces_control_characters_in_text_and_article() -> None:
    unit = TaggedUnit("evil\x1b]0;title\x07.txt", 0, 0, 30, "The truce \x1b[2J\x9b31mholds\u202e.",
                      "other", 0.5, "neutral", 0.5)
    out = io.StringIO()
    Writer(out, "table", False, None, CLASSES).units([unit])
    Writer(out, "table", False, None, CLASSES).summary(unit.article, Counter(other=1), Counter(neutral=1))
    text = out.getvalue()
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in text)
    assert "The truce \ufffd[2J\ufffd31mholds\ufffd." in text and "evil\ufffd]0;title\ufffd.txt" in text


def test_a_long_article_name_keeps_its_end_in_the_table() -> None:
    unit = dataclasses.replace(UNITS[0], article="/a/very/long/folder/name/that/goes/on/article.txt")
    out = io.StringIO()
    Writer(out, "table", False, None, CLASSES).units([unit])
    first = out.getvalue().splitlines()[1].split()[0]
    assert first == "…t/goes/on/article.txt" and len(first) == 22  # an ellipsis and the last 21
