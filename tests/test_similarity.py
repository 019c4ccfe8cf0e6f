"""Copy groups and near-duplicate frames (numpy and scipy only)."""

from __future__ import annotations

import pytest

from karabakh_tagger.similarity import (
    COPY_JACCARD,
    NEAR_DUPLICATE_COSINE,
    copy_groups,
    nearest_cosine,
    tfidf_cosine_pairs,
)


def test_copy_groups_small_lists() -> None:
    assert copy_groups([]) == []
    assert copy_groups(["one sentence"]) == [0]
    texts = ["Russia deployed peacekeepers.", "RUSSIA deployed “peacekeepers”!",
             "Turkey wants a role in monitoring the ceasefire.",
             "Home > Turkey wants a role in monitoring the ceasefire", "Something else entirely."]
    assert copy_groups(texts) == [0, 0, 1, 1, 2]


def test_copy_groups_threshold_and_transitivity() -> None:
    assert copy_groups(["a b c d", "a b c e"]) == [0, 0]  # Jaccard 3/5
    assert copy_groups(["a b c d", "a b c e"], threshold=0.61) == [0, 1]
    assert COPY_JACCARD > 1 / 3 and copy_groups(["a b", "a c"]) == [0, 1]
    chain = ["a b c d", "a b c d e f", "c d e f"]
    assert copy_groups(chain[::2]) == [0, 1] and copy_groups(chain) == [0, 0, 0]
    assert copy_groups(["...", "!!!"]) == [0, 1]  # no words: nothing to compare


def test_cosine_pairs_find_a_swapped_name_frame_but_not_a_new_sentence() -> None:
    texts = ["Putin said on Tuesday that the peacekeepers would stay for five years.",
             "Aliyev said on Tuesday that the peacekeepers would stay for five years.",
             "Refugees queued at the checkpoint in the snow, hoping to reach Stepanakert."]
    pairs = tfidf_cosine_pairs(texts)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert pairs[0][2] >= NEAR_DUPLICATE_COSINE
    assert tfidf_cosine_pairs(texts, threshold=0.99) == []
    across = tfidf_cosine_pairs(texts[:1], texts[1:])
    assert [(i, j) for i, j, _ in across] == [(0, 0)]


def test_nearest_cosine_is_the_closest_other_row() -> None:
    texts = ["the ceasefire holds", "the ceasefire holds today", "refugees return home"]
    near = nearest_cosine(texts)
    assert near[0] == pytest.approx(near[1]) and near[0] > 0.5 and near[2] < 0.2
    assert nearest_cosine(["alone"]).tolist() == [0.0]
