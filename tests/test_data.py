"""Loading the labels as a datasets.Dataset: ClassLabel features, near-duplicate groups, offline."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from karabakh_tagger.data import NEAR_DUPLICATE_JACCARD, load_labels, near_duplicate_groups
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import STANCES, TOPICS

from conftest import LABELS_FILE

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


@pytest.fixture(scope="module")
def by_id(dataset: Any) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in dataset}


def test_features_are_class_labels_with_the_scheme_names(dataset: Any) -> None:
    from datasets import ClassLabel

    for task, names in (("topic", TOPICS), ("stance", STANCES)):
        feature = dataset.features[task]
        assert isinstance(feature, ClassLabel)
        assert feature.names == list(names)
    assert set(dataset.column_names) == {"id", "article", "text", "topic", "stance", "source", "group"}


def test_rows_match_the_label_file(dataset: Any) -> None:
    rows = [json.loads(line) for line in LABELS_FILE.read_text(encoding="utf-8").splitlines()]
    assert len(dataset) == len(rows) == 109
    assert dataset["id"] == [r["id"] for r in rows]
    assert dataset["text"] == [r["text"] for r in rows]
    assert dataset["article"] == [r["article"] for r in rows]
    assert set(dataset["source"]) == {"corpus"}
    topic, stance = dataset.features["topic"], dataset.features["stance"]
    assert [topic.int2str(i) for i in dataset["topic"]] == [r["topic"] for r in rows]
    assert [stance.int2str(i) for i in dataset["stance"]] == [r["stance"] for r in rows]


@pytest.mark.parametrize(("a", "b"), KNOWN_COPIES)
def test_known_near_copies_share_a_group(a: str, b: str, by_id: dict[str, dict[str, Any]]) -> None:
    assert by_id[a]["group"] == by_id[b]["group"]


@pytest.mark.parametrize(("a", "b"), UNRELATED)
def test_unrelated_rows_do_not_share_a_group(a: str, b: str, by_id: dict[str, dict[str, Any]]) -> None:
    assert by_id[a]["group"] != by_id[b]["group"]


def test_groups_are_few_and_small(dataset: Any) -> None:
    """Only the handful of real copies are grouped: nearly every row is alone in its group."""
    sizes: dict[int, int] = {}
    for group in dataset["group"]:
        sizes[group] = sizes.get(group, 0) + 1
    shared = sorted(size for size in sizes.values() if size > 1)
    assert shared == [2] * len(KNOWN_COPIES)
    assert sorted(sizes) == list(range(len(sizes)))  # ids are 0..n-1


def test_near_duplicate_groups_small_lists() -> None:
    assert near_duplicate_groups([]) == []
    assert near_duplicate_groups(["one sentence"]) == [0]
    texts = [
        "Russia deployed peacekeepers.",
        "RUSSIA deployed “peacekeepers”!",  # equal after normalisation
        "Turkey wants a role in monitoring the ceasefire.",
        "Home > Turkey wants a role in monitoring the ceasefire",  # near copy
        "Something else entirely.",
    ]
    assert near_duplicate_groups(texts) == [0, 0, 1, 1, 2]


def test_near_duplicate_groups_threshold_and_transitivity() -> None:
    # word sets: {a b c d} vs {a b c e}: Jaccard 3/5 = 0.6
    assert near_duplicate_groups(["a b c d", "a b c e"]) == [0, 0]
    assert near_duplicate_groups(["a b c d", "a b c e"], threshold=0.61) == [0, 1]
    # {a b} vs {a c}: 1/3, below the default threshold
    assert NEAR_DUPLICATE_JACCARD > 1 / 3
    assert near_duplicate_groups(["a b", "a c"]) == [0, 1]
    # x~y and y~z join x and z even though x and z alone would not
    chain = ["a b c d", "a b c d e f", "c d e f"]
    assert near_duplicate_groups(chain[::2]) == [0, 1]
    assert near_duplicate_groups(chain) == [0, 0, 0]
    # punctuation-only texts have no words and join nothing
    assert near_duplicate_groups(["...", "!!!"]) == [0, 1]


def test_load_labels_with_authored_rows(tmp_path: Path) -> None:
    authored = tmp_path / "authored.jsonl"
    authored.write_text(
        json.dumps({"id": "authored-000", "text": "Refugees began to return to Lachin.",
                    "topic": "refugees_humanitarian", "stance": "neutral", "source": "authored"}) + "\n",
        encoding="utf-8")
    data = load_labels(LABELS_FILE, authored)
    assert len(data) == 110
    last = data[109]
    assert (last["id"], last["article"], last["source"]) == ("authored-000", "authored", "authored")
    assert data.features["topic"].int2str(last["topic"]) == "refugees_humanitarian"


@pytest.mark.parametrize(("line", "fragment"), [
    ('{"id": "x", "text": "t", "topic": "other"}', ":1: malformed label row"),
    ("not json", ":1: malformed label row"),
    ('{"id": "x", "text": "t", "topic": "oter", "stance": "neutral"}', "unknown label"),
])
def test_load_labels_bad_rows_are_input_errors(line: str, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=fragment) as err:
        load_labels(path)
    assert str(path) in str(err.value)


def test_load_labels_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read labels"):
        load_labels(tmp_path / "missing.jsonl")


def test_loading_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_labels opens no socket (any attempt fails the test), with the offline switches on."""
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection",
                        lambda *a, **k: refuse(None, a[0] if a else None))  # type: ignore[arg-type]
    data = load_labels(LABELS_FILE)
    assert len(data) == 109
    assert attempts == []


def test_hf_cache_points_at_a_temp_dir(hf_cache: Path) -> None:
    import datasets.config

    cache = Path(os.environ["HF_DATASETS_CACHE"])
    assert cache == hf_cache
    assert cache.is_dir()
    assert Path(datasets.config.HF_DATASETS_CACHE) == cache
    assert datasets.config.HF_DATASETS_OFFLINE
