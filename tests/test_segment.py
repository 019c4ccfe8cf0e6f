"""Tests of karabakh_tagger.segment: gold units, hard cases, offsets, caps, empty input."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karabakh_tagger.segment import MAX_UNIT_CHARS, segment

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
HARD_CASES = json.loads(
    (ROOT / "tests" / "data" / "segmentation_hard_cases.json").read_text(encoding="utf-8")
)


def _gold_units() -> dict[str, list[tuple[int, int, int, str]]]:
    gold: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    with (ROOT / "labels" / "sentences.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                gold[row["article"]].append((row["index"], row["start"], row["end"], row["text"]))
    return {article: sorted(rows) for article, rows in sorted(gold.items())}


GOLD = _gold_units()


def test_gold_covers_the_five_articles():
    assert sorted(GOLD) == sorted(p.stem for p in ARTICLES.glob("*.txt"))
    assert len(GOLD) == 5


@pytest.mark.parametrize("article", sorted(GOLD))
def test_reproduces_labelled_units(article):
    text = (ARTICLES / f"{article}.txt").read_bytes().decode("utf-8")
    got = [(u.index, u.start, u.end, u.text) for u in segment(text)]
    assert got == GOLD[article]


@pytest.mark.parametrize("case", HARD_CASES["cases"], ids=lambda c: c["name"])
def test_hard_case(case):
    assert [u.text for u in segment(case["text"])] == case["units"]


@pytest.mark.parametrize("case", HARD_CASES.get("known_failures", []), ids=lambda c: c["name"])
def test_known_failure(case):
    got = [u.text for u in segment(case["text"])]
    if got != case["units"]:
        pytest.xfail(case["reason"])
    # A known failure that now passes should be moved to "cases".
    pytest.fail(f"{case['name']} passes now: move it from known_failures to cases")


def test_hard_case_file_is_well_formed():
    names = [c["name"] for c in HARD_CASES["cases"] + HARD_CASES.get("known_failures", [])]
    assert len(HARD_CASES["cases"]) >= 15
    assert len(names) == len(set(names))
    for case in HARD_CASES.get("known_failures", []):
        assert case["reason"]


_ALPHABET = st.sampled_from(
    [*"ab Z9.!?\"'“”…-*", "\r\n", "\n", "\r", "\xa0", "•", "• ", "\t", "U.S.", "Mr. "]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(_ALPHABET, max_size=80).map("".join)))
def test_offsets_slice_back_to_the_unit_text(text):
    units = segment(text)
    previous_end = 0
    for i, unit in enumerate(units):
        assert unit.index == i
        assert text[unit.start : unit.end] == unit.text
        assert previous_end <= unit.start < unit.end
        assert unit.text == unit.text.strip()
        assert any(ch.isalnum() for ch in unit.text)
        assert len(unit.text) <= MAX_UNIT_CHARS
        previous_end = unit.end


def test_long_unpunctuated_line_is_capped():
    words = "ceasefire monitors convoy corridor "
    text = (words * (2_000_000 // len(words) + 1))[:2_000_000]
    units = segment(text)
    assert units
    assert all(len(u.text) <= MAX_UNIT_CHARS for u in units)
    assert all(text[u.start : u.end] == u.text for u in units)
    assert len(units) >= len(text) // MAX_UNIT_CHARS
    # Nothing but white space is lost between the pieces.
    assert "".join(u.text for u in units).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("text", ["", " ", "\n\n", "\r\n\r\n", "\t \xa0 \u2003\n", "   \r\n  "])
def test_empty_or_blank_text_gives_no_units(text):
    assert segment(text) == []


def test_concurrent_threads_get_the_same_units() -> None:
    """The segmenter reuses blingfire's buffers; threads must not share them."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "articles").glob("*.txt"))]
    texts = [t * 3 for t in texts] * 4
    expected = [segment(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(segment, texts)) == expected


def test_a_block_longer_than_the_window_is_cut_at_white_space_the_same_way_every_time():
    from karabakh_tagger.segment import MAX_WINDOW_CHARS, units_in, windows

    text = ("word " * (3 * MAX_WINDOW_CHARS // 5)).strip()
    spans = list(windows(text))
    assert len(spans) >= 3 and all(b - a <= MAX_WINDOW_CHARS for a, b in spans)
    assert all(text[b] == " " for _, b in spans[:-1])
    assert [(u.start, u.end) for u in units_in(text, spans)] == [(u.start, u.end) for u in segment(text)]
    assert [(u.start, u.end) for u in units_in(text, spans[1:])] == [
        (u.start, u.end) for u in segment(text) if u.start >= spans[1][0]]
