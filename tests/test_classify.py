"""`karabakh-tagger classify`: sentences as given, from JSON lines or CSV, with tag's fields."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from karabakh_tagger import load_tagger

from conftest import FIELDS, run_cli

QUOTES = ["Putin defended the agreement.", "Turkey will send troops. France objects.", "Read more"]


def test_jsonl_rows_are_classified_one_each_with_tags_fields(models: Path, tmp_path: Path) -> None:
    path = tmp_path / "quotes.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": q}) + "\n" for i, q in enumerate(QUOTES)),
                    encoding="utf-8")
    run = run_cli("classify", path, "--models", models)
    assert run.code == 0 and run.err == "", run.describe()
    rows = run.rows()
    assert [list(r) for r in rows] == [FIELDS] * 3
    assert [r["text"] for r in rows] == QUOTES and [r["index"] for r in rows] == [1, 2, 3]
    expected = load_tagger(models).classify(QUOTES)
    assert [(r["topic"], r["stance"]) for r in rows] == [(p.topic, p.stance) for p in expected]


def test_csv_with_a_text_column_and_bad_rows_are_one_line_each(models: Path, tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text('speaker,quote\nMacron,"The deal raises many questions, France said."\nX,\n',
                    encoding="utf-8")
    run = run_cli("classify", path, "--text-column", "quote", "--format", "csv", "--models", models)
    assert run.code == 1, run.describe()
    assert run.err_lines == [f"error: {path}:3: no text in column 'quote'"]
    (row,) = list(csv.DictReader(io.StringIO(run.out)))
    assert row["text"] == "The deal raises many questions, France said." and row["index"] == "2"
    run = run_cli("classify", path, "--models", models)
    assert run.code == 1 and run.err_lines == [
        f"error: {path}: no column 'text' (columns: speaker, quote; pass --text-column)"]


def test_stdin_and_broken_lines(models: Path) -> None:
    run = run_cli("classify", "-", "--models", models, stdin=b'{"text": "The truce holds."}\nnot json\n')
    assert run.code == 1 and len(run.rows()) == 1
    assert run.err_lines == ["error: stdin:2: not a JSON object (one object per line)"]
