"""The fine-tuned family: a real (tiny) fine-tuning, its ONNX export equal to the torch model, and
`karabakh-tagger finetune` adding it to the model folder and to the rule's comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the encoder extra is not installed")
pytest.importorskip("onnxruntime", reason="the encoder extra is not installed")

from karabakh_tagger import artifacts, finetune
from karabakh_tagger.encoder import Embedder, verified_weights
from karabakh_tagger.labels import TASKS

from conftest import ENCODER_TINY, run_cli, set_args


@pytest.fixture(scope="module")
def tuned(data: Any, tiny_config: Any) -> finetune.FineTuned:
    config = tiny_config.config
    config = config.__class__(**{**config.__dict__, "finetune": config.finetune.__class__(
        epochs=1, learning_rate=3e-5, head_learning_rate=1e-3, batch_size=16, max_length=16,
        weight_decay=0.01)})
    rows = np.arange(0, len(data), 4)
    return finetune.fine_tune(data, rows, config)


def test_fine_tuning_gives_both_heads_over_every_class(tuned: finetune.FineTuned, data: Any) -> None:
    probs = tuned.predict_proba(list(data.texts[:10]))
    for task in TASKS:
        assert tuned.classes[task] == list(data.classes[task])
        assert probs[task].shape == (10, len(data.classes[task]))
        np.testing.assert_allclose(probs[task].sum(axis=1), 1.0, atol=1e-5)


def test_the_export_gives_the_torch_models_probabilities(tuned: finetune.FineTuned, data: Any) -> None:
    onnx, heads = finetune.export(tuned)
    tokenizer = verified_weights()["tokenizer.json"].decode("utf-8")
    texts = list(data.texts[:40])
    got = heads.predict_proba(Embedder(onnx, tokenizer, tuned.max_length, 8).embed(texts))
    expected = tuned.predict_proba(texts)
    for task in TASKS:
        np.testing.assert_allclose(got[task], expected[task], atol=1e-4)


def test_the_finetune_command_adds_the_family_and_the_rule_compares_all_three(
        encoder_models: Path, small_authored: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(encoder_models, models)
    before = {n: (models / n).read_bytes() for n in artifacts.read_manifest(models).files}
    common = [*set_args(ENCODER_TINY), "--authored", small_authored, "--models", models,
              "--out", tmp_path / "reports"]
    assert run_cli("finetune", *common).code == 1  # needs the other families' evaluation first
    assert run_cli("eval", *common, "--jobs", "2").code == 0
    run = run_cli("finetune", *common, timeout=600)
    assert run.code == 0, run.describe()
    manifest = artifacts.read_manifest(models)
    assert set(manifest.models) == {"baseline", "encoder", "finetuned"}
    assert all((models / n).read_bytes() == b for n, b in before.items())  # the others untouched
    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["rule"]) == {"baseline", "encoder", "finetuned"}
    assert manifest.recommended == metrics["recommended"]
    ft = metrics["families"]["finetuned"]["tasks"]["stance"]
    assert len(ft["loao"]["folds"]) == 5 and ft["lobo"] is not None and ft["random_split"] is None
    tagged = run_cli("tag", "-", "--models", models, "--model", "finetuned", stdin=b"The truce holds.")
    assert tagged.code == 0 and len(tagged.rows()) == 1
    again = run_cli("eval", *common, "--jobs", "2")  # keeps the fine-tuned result without refitting it
    assert again.code == 0 and "finetuned:" in again.out
