"""Tests of karabakh_tagger.tag: split_article, batches, and the Tagger API on real (tiny) models."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import joblib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import karabakh_tagger
from karabakh_tagger.errors import InputError
from karabakh_tagger.segment import segment, units_in
from karabakh_tagger.tag import CHUNK_CHARS, Piece, TaggedUnit, Tagger, batches, split_article

from conftest import FIELDS, article_texts, big_crlf_text

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
def tagger(models: Path) -> Tagger:
    return karabakh_tagger.load_tagger(models)


# --- split_article -------------------------------------------------------------------------------

def _units_of_pieces(text: str, chunk: int) -> list[tuple[int, int, str]]:
    return [(p.base + u.start, p.base + u.end, u.text) for p in split_article(0, text, chunk)
            for u in units_in(p.text, p.spans)]


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, chunk=st.integers(min_value=1, max_value=60))
def test_pieces_give_exactly_the_units_of_segment_whatever_the_chunk(text, chunk):
    pieces = list(split_article(3, text, chunk))
    assert [p.last for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(p.position == 3 for p in pieces)
    assert all(text[p.base:p.base + len(p.text)] == p.text for p in pieces)
    assert _units_of_pieces(text, chunk) == [(u.start, u.end, u.text) for u in segment(text)]


def test_short_and_empty_texts_are_one_piece():
    assert list(split_article(0, "", 100)) == [Piece(0, 0, "", (), last=True)]
    (only,) = split_article(0, "short text", 100)
    assert (only.base, only.text, only.spans, only.last) == (0, "short text", ((0, 10),), True)


def test_a_hard_wrapped_article_of_150000_characters_is_cut_like_segment_cuts_it():
    line = "the ceasefire holds along the line and the convoys move on the road to lachin"
    text = "\r".join([line] * 2000)  # no blank line, \r line ends: one block for the segmenter
    assert len(text) > 150_000
    assert len(list(split_article(0, text, CHUNK_CHARS))) > 1
    assert _units_of_pieces(text, CHUNK_CHARS) == [(u.start, u.end, u.text) for u in segment(text)]


def test_a_corpus_of_articles_with_blank_lines_is_split_into_many_pieces():
    text = "\n\n".join(article_texts().values())
    assert len(list(split_article(0, text, 2000))) > 5
    assert _units_of_pieces(text, 2000) == [(u.start, u.end, u.text) for u in segment(text)]


# --- batches ------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=30), max_size=30),
       chunk=st.integers(min_value=1, max_value=40))
def test_batches_keep_order_and_group_pieces_up_to_the_chunk_size(sizes, chunk):
    pieces = [Piece(i, 0, "z" * n, ((0, n),), last=True) for i, n in enumerate(sizes)]
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
    assert isinstance(tagger, Tagger) and tagger.model == "baseline"
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


def test_load_tagger_refuses_a_tampered_artifact(models_copy):
    with (models_copy / "fast.npz").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(InputError, match=r"fast\.npz does not match .*manifest\.json; retrain"):
        karabakh_tagger.load_tagger(models_copy)


def test_a_tagger_for_the_pipelines_warns_once_about_another_scikit_learn(models_copy):
    manifest = json.loads((models_copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["versions"]["scikit-learn"] = "0.0.1"
    manifest["models"]["baseline"]["scorer"] = "pipelines"
    (models_copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    warnings: list[str] = []
    tagger = karabakh_tagger.load_tagger(models_copy, warn=warnings.append)
    assert len(warnings) == 1 and "scikit-learn 0.0.1" in warnings[0]
    assert tagger.tag(ARTICLE)


def test_pipelines_and_numpy_export_tag_alike(models):
    from karabakh_tagger.artifacts import load_pipelines
    from karabakh_tagger.scorers import PipelineScorer

    fast = karabakh_tagger.load_tagger(models)
    slow = Tagger(PipelineScorer(load_pipelines(models)), fast.manifest)
    for a, b in zip(fast.tag(ARTICLE, probs=True), slow.tag(ARTICLE, probs=True), strict=True):
        assert (a.topic, a.stance) == (b.topic, b.stance)
        assert a.topic_score == pytest.approx(b.topic_score, abs=1e-4)


def test_artifacts_are_plain_pipelines_that_predict_label_names(models, tagger):
    stance = joblib.load(models / "stance.joblib")
    assert set(stance.predict(["Putin defended the agreement.", "Read more"])) <= set(
        tagger.classes["stance"])


# --- the API refuses what it cannot tag ---------------------------------------------------------

@pytest.mark.parametrize(("call", "message"), [
    (lambda t: t.tag_many("one article as a string"), "list of strings"),
    (lambda t: t.tag(None), "as a str, got NoneType"),
    (lambda t: t.tag(b"bytes"), "as a str, got bytes"),
    (lambda t: t.tag_many([b"bytes"]), "takes strings, got bytes"),
    (lambda t: t.classify("a sentence"), "list of strings"),
])
def test_wrong_types_are_a_clear_type_error(tagger, call, message):
    with pytest.raises(TypeError, match=message):
        call(tagger)


def test_classify_scores_sentences_as_given(tagger):
    sentences = ["Turkey will send troops. France objects.", "", "Read more"]
    predictions = tagger.classify(sentences, probs=True)
    assert [p.text for p in predictions] == sentences  # one prediction per input, no segmentation
    units = tagger.tag("Read more")
    assert (predictions[2].topic, predictions[2].topic_score) == (units[0].topic, units[0].topic_score)
    assert list(predictions[0].stance_probs) == tagger.classes["stance"]
