"""Loading the labels into LabelledData: scheme-ordered classes, sources, copy groups, offline."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from karabakh_tagger.data import load_data
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import STANCES, TOPICS

from conftest import AUTHORED_DIR, LABELS_FILE, read_jsonl, write_jsonl

# Copies of one sentence in the real corpus (checked by hand): a headline under a navigation
# prefix, and one quote in two translations in two articles.
KNOWN_COPIES = [
    ("002_c6052be6c11b6493-000", "002_c6052be6c11b6493-001"),
    ("003_f3ac13cd7658a600-000", "003_f3ac13cd7658a600-001"),
    ("003_f3ac13cd7658a600-006", "004_b77860f708447555-004"),
    ("000_81677d10f4735300-013", "001_4340ceb975d312c5-007"),
]
UNRELATED = [
    ("000_81677d10f4735300-000", "000_81677d10f4735300-001"),
    ("002_c6052be6c11b6493-001", "003_f3ac13cd7658a600-001"),
    ("000_81677d10f4735300-002", "004_b77860f708447555-004"),
]


def test_corpus_rows_match_the_label_file(corpus_data: Any) -> None:
    rows = read_jsonl(LABELS_FILE)
    assert len(corpus_data) == len(rows) == 109
    assert list(corpus_data.ids) == [r["id"] for r in rows]
    assert list(corpus_data.texts) == [r["text"] for r in rows]
    assert corpus_data.articles.tolist() == [r["article"] for r in rows]
    assert set(corpus_data.batches.tolist()) == {""} and corpus_data.corpus.all()
    assert corpus_data.classes == {"topic": TOPICS, "stance": STANCES}
    for task in ("topic", "stance"):
        assert corpus_data.names(task).tolist() == [r[task] for r in rows]


def test_composed_rows_follow_with_their_batch_and_no_article() -> None:
    data, sources = load_data(LABELS_FILE, AUTHORED_DIR)
    files = sorted(AUTHORED_DIR.glob("*.jsonl"))
    composed = [row for path in files for row in read_jsonl(path)]
    assert len(data) == 109 + len(composed) and sources.composed_rows == len(composed)
    tail = slice(109, None)
    assert list(data.ids[tail]) == [r["id"] for r in composed]
    assert data.batches[tail].tolist() == [r["batch"] for r in composed]
    assert set(data.articles[tail].tolist()) == {""} and not data.corpus[tail].any()
    assert sources.batches == tuple(p.stem for p in files)
    assert sources.articles == tuple(sorted({r["article"] for r in read_jsonl(LABELS_FILE)}))


def test_groups_are_article_batch_and_copy_group(data: Any) -> None:
    groups = data.groups()
    assert groups.shape == (len(data), 3)
    assert groups[:, 0].tolist() == data.articles.tolist()
    assert groups[:, 1].tolist() == data.batches.tolist()
    assert groups[:, 2].tolist() == data.copies.tolist()


def test_subset_keeps_every_column_aligned(data: Any) -> None:
    rows = np.array([200, 3, 150, 0])
    sub = data.subset(rows)
    assert list(sub.texts) == [data.texts[i] for i in rows]
    assert sub.y["stance"].tolist() == data.y["stance"][rows].tolist()
    assert sub.groups().tolist() == data.groups()[rows].tolist()


@pytest.mark.parametrize(("a", "b"), KNOWN_COPIES)
def test_known_near_copies_share_a_copy_group(a: str, b: str, corpus_data: Any) -> None:
    ids = list(corpus_data.ids)
    assert corpus_data.copies[ids.index(a)] == corpus_data.copies[ids.index(b)]


@pytest.mark.parametrize(("a", "b"), UNRELATED)
def test_unrelated_rows_do_not(a: str, b: str, corpus_data: Any) -> None:
    ids = list(corpus_data.ids)
    assert corpus_data.copies[ids.index(a)] != corpus_data.copies[ids.index(b)]


def test_only_the_real_copies_are_grouped_in_the_corpus(corpus_data: Any) -> None:
    sizes = np.bincount(corpus_data.copies)
    assert sorted(int(s) for s in sizes if s > 1) == [2] * len(KNOWN_COPIES)


@pytest.mark.parametrize(("row", "fragment"), [
    ({"id": "x", "text": "t", "topic": "other"}, ":1: malformed label row"),
    ("not json", ":1: malformed label row"),
    ({"id": "x", "text": "t", "topic": "oter", "stance": "neutral"}, ":1: malformed label row"),
    ({"id": "x", "text": 3, "topic": "other", "stance": "neutral"}, ":1: malformed label row"),
])
def test_a_bad_row_is_an_input_error_with_file_and_line(row: Any, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text((row if isinstance(row, str) else json.dumps(row)) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=fragment) as err:
        load_data(path)
    assert str(path) in str(err.value)


def test_missing_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read labels"):
        load_data(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="no folder of composed sentences"):
        load_data(LABELS_FILE, tmp_path / "nowhere")


def test_a_batch_file_adds_its_rows(tmp_path: Path) -> None:
    folder = tmp_path / "authored"
    folder.mkdir()
    write_jsonl(folder / "b99-test.jsonl", [
        {"id": "b99-0001", "batch": "b99-test", "text": "Refugees began to return to Lachin.",
         "topic": "refugees_humanitarian", "stance": "neutral", "source": "authored", "note": "n"}])
    data, sources = load_data(LABELS_FILE, folder)
    assert len(data) == 110 and data.batches[-1] == "b99-test" and data.articles[-1] == ""
    assert data.names("topic")[-1] == "refugees_humanitarian"
    assert sources.authored_sha256 and sources.batches == ("b99-test",)


def test_loading_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_data opens no socket (any attempt fails the test), with the offline switches on."""
    assert os.environ["HF_DATASETS_OFFLINE"] == "1" and os.environ["HF_HUB_OFFLINE"] == "1"
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    assert len(load_data(LABELS_FILE)[0]) == 109
    assert attempts == []
