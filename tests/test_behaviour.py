"""Behavioural tests of the model trained with the real configs/baseline.yaml (whatever it says,
e.g. use_authored), into a temp folder once per session.

Every sentence here is COMPOSED for these tests (none is copied from data/articles or the labels).
Each expectation is one that any reasonable tagger of this scheme must meet (labels/GUIDELINES.md).
Where the baseline model misses one, the test stays, marked xfail(strict=True) with the reason, so
that a fix shows up as an XPASS instead of passing unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from karabakh_tagger.tag import TaggedUnit, Tagger, load_tagger


def miss(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"baseline model misses it: {reason}")


@pytest.fixture(scope="module")
def tagger(baseline_models: Path) -> Tagger:
    return load_tagger(baseline_models)


def one(tagger: Tagger, sentence: str) -> TaggedUnit:
    """The single unit of a one-sentence text."""
    units = tagger.tag(sentence)
    assert len(units) == 1, [u.text for u in units]
    return units[0]


# Composed sentences.
@pytest.mark.parametrize("sentence", [
    "Ankara announced it will send Turkish troops to help monitor the truce.",
    "Turkish soldiers will be stationed in Azerbaijan, Ankara said on Tuesday.",
])
def test_turkish_troops_are_turkey_role(tagger, sentence):
    assert one(tagger, sentence).topic == "turkey_role"


# Composed boilerplate lines.
@pytest.mark.parametrize("line", [
    "Share this article on Facebook",
    "Share on Twitter",
    "Next story",
    "Related articles",
    "Sign up for our daily newsletter",
    "Click here to subscribe",
    "Follow us on Twitter",
])
def test_boilerplate_is_other_and_neutral(tagger, line):
    unit = one(tagger, line)
    assert (unit.topic, unit.stance) == ("other", "neutral")


# Composed sentences.
@pytest.mark.parametrize("sentence", [
    "The Minsk Group co-chairs will meet next week to discuss the peace process.",
    "The OSCE Minsk Group should resume its mediation between Baku and Yerevan.",
])
def test_minsk_group_is_diplomacy_negotiations(tagger, sentence):
    assert one(tagger, sentence).topic == "diplomacy_negotiations"


# Composed sentences.
@pytest.mark.parametrize("sentence", [
    "Paris demanded international supervision of the ceasefire to ensure it is respected.",
    "The ceasefire must be supervised by international monitors, the French foreign minister insisted.",
])
def test_a_demand_for_international_supervision_is_monitoring_or_critical(tagger, sentence):
    unit = one(tagger, sentence)
    assert unit.topic == "peacekeeping_monitoring" or unit.stance == "critical", unit


# Composed sentences.
@pytest.mark.parametrize(("sentence", "topic"), [
    ("Thousands of refugees began returning to their homes after the fighting stopped.",
     "refugees_humanitarian"),
    ("Protesters in Yerevan stormed the parliament and demanded Pashinyan's resignation.",
     "domestic_politics"),
    ("Hundreds of Syrian mercenaries were flown to the front line to fight.", "foreign_fighters"),
])
def test_clear_cases_of_the_rare_topics(tagger, sentence, topic):
    assert one(tagger, sentence).topic == topic


# Composed sentences.
@pytest.mark.parametrize(("sentence", "stance"), [
    ("Vladimir Putin praised the truce as a success that ended the war.", "supportive"),
    ("Macron said the deal raised many questions.", "critical"),
])
def test_clear_stances(tagger, sentence, stance):
    assert one(tagger, sentence).stance == stance


# Composed sentences: invariances.
@pytest.mark.parametrize("sentence", [
    "Ankara announced it will send Turkish troops to help monitor the truce.",
    "Russian peacekeepers began patrolling the Lachin corridor.",
    "Share this article on Facebook",
])
@pytest.mark.parametrize("variant", [
    lambda s: s + " ", lambda s: "  " + s, lambda s: s + "\n", lambda s: s + "\r\n\r\n",
], ids=["trailing space", "leading spaces", "trailing newline", "trailing CRLFs"])
def test_surrounding_white_space_changes_nothing(tagger, sentence, variant):
    before, after = one(tagger, sentence), one(tagger, variant(sentence))
    assert (after.topic, after.topic_score, after.stance, after.stance_score) == (
        before.topic, before.topic_score, before.stance, before.stance_score)


SIGNED = "{} signed the ceasefire agreement on 10 November."
WELCOMED = "{} welcomed the ceasefire, saying it had stopped the bloodshed."


@pytest.mark.parametrize("template", [SIGNED, WELCOMED], ids=["signed", "welcomed"])
@pytest.mark.parametrize("name", ["Aliyev", "Pashinyan", "Emmanuel Macron", "Anna Petrova"])
def test_changing_the_person_does_not_change_the_topic(tagger, template, name):
    assert one(tagger, template.format(name)).topic == one(tagger, template.format("Putin")).topic


@pytest.mark.parametrize("name", ["Vladimir Putin", "Ilham Aliyev", "Emmanuel Macron", "Anna Petrova"])
def test_whoever_welcomes_the_ceasefire_is_supportive(tagger, name):
    # GUIDELINES: reported speech carries the stance of what is reported, whoever speaks.
    assert one(tagger, WELCOMED.format(name)).stance == "supportive"
