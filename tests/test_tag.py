"""Tests of karabakh_tagger.tag: split_article, batches, and the Tagger API on real (tiny) models."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import joblib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import karabakh_tagger
from karabakh_tagger.errors import InputError
from karabakh_tagger.segment import segment
from karabakh_tagger.tag import CHUNK_CHARS, Piece, TaggedUnit, Tagger, batches, split_article

from helpers_tag import FIELDS, article_texts, big_crlf_text, tiny_models_dir

# Composed for these tests (not corpus text): a headline, a wrapped paragraph, boilerplate, CRLF.
ARTICLE = (
    "Truce observers arrive\r\n\r\n"
    "Russian peacekeepers took up positions along the Lachin corridor on Friday, and\r\n"
    "officials in Baku said Turkish officers would join a monitoring centre. France asked\r\n"
    "for clarity on the status of the region.\r\n\r\n"
    "Share this article\r\n"
)
TEXTS = st.text(alphabet=st.sampled_from(list("ab .,\n\r\t")), max_size=400)
SOME_TEXTS = st.text(alphabet=st.sampled_from(list("Ankara Turkish troops. Minsk talks\n\r")), max_size=300)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def tagger(models: Path) -> Tagger:
    return karabakh_tagger.load_tagger(models)


# --- split_article -------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(text=TEXTS, chunk=st.integers(min_value=1, max_value=60))
def test_split_article_pieces_cover_the_text_exactly_and_respect_the_chunk_size(text, chunk):
    pieces = list(split_article("a", text, chunk))
    assert "".join(p.text for p in pieces) == text
    assert [p.base for p in pieces] == [sum(len(q.text) for q in pieces[:i]) for i in range(len(pieces))]
    assert [p.last for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(p.article == "a" for p in pieces)
    assert all(len(p.text) <= chunk for p in pieces)
    assert all(p.text for p in pieces[:-1])  # always progress


def test_split_article_short_and_empty_texts_are_one_piece():
    assert list(split_article("x", "short text", 100)) == [Piece("x", 0, "short text", last=True)]
    assert list(split_article("x", "", 100)) == [Piece("x", 0, "", last=True)]
    exact = "y" * 100
    assert list(split_article("x", exact, 100)) == [Piece("x", 0, exact, last=True)]


@pytest.mark.parametrize(("text", "chunk", "first"), [
    ("a" * 30 + "\n\n" + "b" * 30 + "\n" + "c" * 20, 70, "a" * 30),       # blank line before line
    ("a" * 20 + "\r\n\r\n" + "b" * 20 + "\r\n" + "c" * 10, 50, "a" * 20),  # CRLF blank line
    ("a" * 10 + "\n" + "b" * 10 + " " + "c" * 30, 40, "a" * 10),           # a line break before a space
    ("a" * 10 + " " + "b" * 30, 25, "a" * 10),                              # then white space
    ("a" * 50, 20, "a" * 20),                                               # then a hard cut
])
def test_split_article_cuts_at_blank_lines_then_line_breaks_then_spaces(text, chunk, first):
    pieces = list(split_article("x", text, chunk))
    assert pieces[0].text == first
    assert "".join(p.text for p in pieces) == text


def test_split_article_of_articles_with_blank_lines_does_not_change_the_units():
    text = "\n\n".join(article_texts().values())
    pieces = list(split_article("x", text, 2000))
    assert len(pieces) > 5
    stitched = [(p.base + u.start, p.base + u.end) for p in pieces for u in segment(p.text)]
    assert stitched == [(u.start, u.end) for u in segment(text)]


# --- batches ------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=30), max_size=30),
       chunk=st.integers(min_value=1, max_value=40))
def test_batches_keep_order_and_group_pieces_up_to_the_chunk_size(sizes, chunk):
    pieces = [Piece(str(i), 0, "z" * n, last=True) for i, n in enumerate(sizes)]
    out = list(batches(pieces, chunk))
    assert [p for batch in out for p in batch] == pieces
    assert all(out)
    for batch in out[:-1]:
        assert sum(len(p.text) for p in batch) >= chunk
    for batch in out:
        assert sum(len(p.text) for p in batch[:-1]) < chunk  # a batch closes as soon as it is full


def test_batches_of_nothing_is_nothing():
    assert list(batches([], 10)) == []


# --- Tagger -------------------------------------------------------------------------------------

def test_load_tagger_is_public_and_returns_a_tagger(tagger):
    assert isinstance(tagger, Tagger)
    assert len(tagger.classes["topic"]) == 9 and tagger.classes["stance"] == [
        "supportive", "critical", "neutral"]


def test_tag_returns_typed_units_whose_offsets_slice_back(tagger):
    units = tagger.tag(ARTICLE)
    assert units and all(isinstance(u, TaggedUnit) for u in units)
    assert [u.index for u in units] == list(range(len(units)))
    assert [(u.start, u.end, u.text) for u in units] == [(u.start, u.end, u.text) for u in segment(ARTICLE)]
    for u in units:
        assert ARTICLE[u.start : u.end] == u.text
        assert u.article == "text"
        assert u.topic in tagger.classes["topic"] and u.stance in tagger.classes["stance"]
        assert isinstance(u.topic_score, float) and 0 <= u.topic_score <= 1
        assert isinstance(u.stance_score, float) and 0 <= u.stance_score <= 1
        assert u.topic_probs is None and u.stance_probs is None
    assert any("\r\n" in u.text for u in units)  # the wrapped sentence, offsets intact


def test_tag_with_probs_gives_every_class_and_the_score_is_the_top_probability(tagger):
    for u in tagger.tag(ARTICLE, article="mine", probs=True):
        assert u.article == "mine"
        for task in ("topic", "stance"):
            probs = getattr(u, f"{task}_probs")
            assert list(probs) == tagger.classes[task]
            assert sum(probs.values()) == pytest.approx(1, abs=1e-3)
            assert probs[getattr(u, task)] == getattr(u, f"{task}_score") == max(probs.values())


@pytest.mark.parametrize("text", ["", "   ", "\r\n\r\n", "• . …", "\t\u00a0\n"])
def test_tag_of_text_without_units_is_empty(tagger, text):
    assert tagger.tag(text) == []


def test_tag_many_equals_tag_one_by_one_including_empty_and_long_texts(tagger):
    long = big_crlf_text(2 * CHUNK_CHARS + 10_000)
    texts = ["", ARTICLE, "  \n", "Ankara will send troops.", long, "", ARTICLE]
    many = tagger.tag_many(texts)
    assert len(many) == len(texts)
    for i, (text, got) in enumerate(zip(texts, many, strict=True)):
        assert {u.article for u in got} <= {f"text{i}"}  # default names: text0, text1, ...
        assert [dataclasses.replace(u, article="text") for u in got] == tagger.tag(text)
    named = tagger.tag_many(texts, names=[f"n{i}" for i in range(len(texts))], probs=True)
    for i, (text, got) in enumerate(zip(texts, named, strict=True)):
        assert got == tagger.tag(text, article=f"n{i}", probs=True)


def test_tag_many_of_nothing_and_of_a_generator(tagger):
    assert tagger.tag_many([]) == []
    assert tagger.tag_many(t for t in [ARTICLE, ""]) == [tagger.tag(ARTICLE, "text0"), []]


def test_a_text_longer_than_several_chunks_is_cut_like_the_whole_text(tagger):
    text = big_crlf_text(2 * CHUNK_CHARS + 10_000)
    units = tagger.tag(text)
    assert [u.index for u in units] == list(range(len(units)))
    assert [(u.start, u.end) for u in units] == [(u.start, u.end) for u in segment(text)]
    assert all(text[u.start : u.end] == u.text for u in units)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=SOME_TEXTS)
def test_offsets_always_slice_back(tagger, text):
    units = tagger.tag(text)
    assert all(text[u.start : u.end] == u.text for u in units)
    assert [u.index for u in units] == list(range(len(units)))
    assert all(a.end <= b.start for a, b in itertools.pairwise(units))


def test_tagged_unit_to_dict_has_the_documented_key_order(tagger):
    unit = tagger.tag(ARTICLE, probs=True)[0]
    assert list(unit.to_dict()) == FIELDS
    assert list(unit.to_dict(probs=True)) == [*FIELDS, "topic_probs", "stance_probs"]
    assert unit.to_dict()["text"] == unit.text
    json.dumps(unit.to_dict(probs=True))  # plain data
    with pytest.raises(dataclasses.FrozenInstanceError):
        unit.topic = "other"  # type: ignore[misc]


# --- loading ------------------------------------------------------------------------------------

def test_load_tagger_refuses_a_missing_folder(tmp_path):
    with pytest.raises(InputError, match="run make train"):
        karabakh_tagger.load_tagger(tmp_path / "nothing")


def test_load_tagger_refuses_a_tampered_artifact(models, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    with (copy / "stance.joblib").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(InputError, match=r"stance\.joblib does not match .*manifest\.json; retrain"):
        karabakh_tagger.load_tagger(copy)


def test_load_tagger_refuses_a_garbled_manifest(models, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    (copy / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="manifest; retrain with make train"):
        karabakh_tagger.load_tagger(copy)


def test_load_tagger_warns_once_about_another_scikit_learn_and_still_tags(models, tmp_path):
    from karabakh_tagger.tag import load_tagger

    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["versions"]["scikit-learn"] = "0.0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    warnings: list[str] = []
    tagger = load_tagger(copy, warn=warnings.append)
    assert len(warnings) == 1 and "scikit-learn 0.0.1" in warnings[0]
    assert tagger.tag(ARTICLE)


def test_artifacts_are_plain_pipelines_that_predict_label_names(models, tagger):
    stance = joblib.load(models / "stance.joblib")
    assert set(stance.predict(["Putin defended the agreement.", "Read more"])) <= set(
        tagger.classes["stance"])
