"""The model card, rendered from a typed manifest."""

from __future__ import annotations

from pathlib import Path

from karabakh_tagger import artifacts
from karabakh_tagger.card import model_card


def test_the_card_of_the_tiny_models_says_what_the_data_and_the_models_are(models: Path) -> None:
    manifest = artifacts.read_manifest(models)
    card = model_card(manifest)
    assert card == (models / "README.md").read_text(encoding="utf-8")
    d = manifest.data
    assert f"{d.corpus_units} labelled units of {len(d.articles)} real articles" in card
    assert f"{d.composed_rows} composed sentences in {len(d.batches)} batches" in card
    assert "labelled twice" in card and "Not evaluated yet" in card
    for task, t in manifest.models["baseline"].tasks.items():
        row = next(line for line in card.splitlines() if line.startswith(f"| {task} |"))
        for key, value in t.params.items():
            assert f"`{key}={value}`" in row
        assert f"{t.inner_cv_macro_f1:.3f}" in row and ", ".join(t.classes) in row
    assert manifest.versions["scikit-learn"] in card and manifest.created in card


def test_the_card_carries_the_evaluation_once_recorded(models_copy: Path) -> None:
    headline = artifacts.Headline(0.5, 0.8, 0.7, 0.2, 0.45)
    manifest = artifacts.record_evaluation(models_copy, {"baseline": {"stance": headline}}, {}, "baseline")
    card = model_card(manifest)
    assert "| stance | 0.500 (0.800) | 0.200 | 0.700 | 0.450 |" in card
    assert "### baseline (recommended)" in card and "evaluated" in card
