"""The encoder family: verified weights, the ONNX graph equal to the reference encoder, batches that
do not change the vectors, heads equal to the trained classifiers, and tagging without torch.

Skipped where the encoder extra is not installed (``pip install torch==2.13.0 && pip install -e
.[encoder]``; make setup and CI install it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the encoder extra is not installed")
pytest.importorskip("torch", reason="the encoder extra is not installed")

from karabakh_tagger import artifacts, encoder
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS
from karabakh_tagger.train import quantization_agreement

from conftest import ARTICLES_DIR, ENV, ROOT, run_cli

SENTENCES = [  # composed for these tests
    "Russian peacekeepers escorted the first buses of returnees along the Lachin road.",
    "The opposition called the agreement a capitulation and demanded the prime minister resign.",
    "Read more",
    "Ankara hailed the joint monitoring centre as proof that its role in the region is recognised, "
    "while Moscow said no Turkish soldier would serve in Karabakh itself, and officials in Yerevan "
    "asked again who would protect the Armenians who stay in the districts being handed over.",
]


@pytest.fixture(scope="module")
def loaded(encoder_models: Path) -> artifacts.Loaded:
    return artifacts.load(encoder_models, "encoder")


def test_the_package_weights_are_checked_before_anything_is_built(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(encoder.package_folder(), folder)
    assert set(encoder.verified_weights(folder)) == set(encoder.WEIGHTS)
    with (folder / "model.safetensors").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01")
    with pytest.raises(InputError, match=r"model\.safetensors: not the weights this project was built with"):
        encoder.verified_weights(folder)
    shutil.copy(encoder.package_folder() / "model.safetensors", folder / "model.safetensors")
    (folder / "config.json").unlink()
    with pytest.raises(InputError, match=r"config\.json: cannot be read"):
        encoder.verified_weights(folder)


def test_the_onnx_graph_gives_the_reference_encoders_vectors(loaded: artifacts.Loaded) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(encoder.package_folder()), device="cpu").encode(
        SENTENCES, normalize_embeddings=True)
    ours = loaded.scorer.embedder.embed(SENTENCES)
    assert ours.shape == (len(SENTENCES), encoder.DIMENSION)
    if not loaded.manifest.models["encoder"].details["quantized"]:
        assert np.min(np.sum(ours * reference, axis=1)) > 0.9999


def test_batching_and_length_sorting_do_not_change_the_vectors(loaded: artifacts.Loaded) -> None:
    embedder = loaded.scorer.embedder
    together = embedder.embed(SENTENCES * 3)
    alone = np.vstack([embedder.embed([s]) for s in SENTENCES])
    np.testing.assert_allclose(together[: len(SENTENCES)], alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, encoder.DIMENSION)


def test_the_saved_heads_are_the_trained_classifiers(encoder_models: Path, loaded: artifacts.Loaded,
                                                     data: Any) -> None:
    info = loaded.manifest.models["encoder"]
    assert info.scorer == "onnx" and set(info.files.values()) == set(artifacts.ENCODER_FILES.values())
    assert info.details["weights_sha256"] == encoder.WEIGHTS
    assert info.details["int8_label_agreement"] is not None and "int8" in (info.note or "")
    probs = loaded.scorer.predict_proba(list(data.texts[:50]))
    for task in TASKS:
        assert probs[task].shape == (50, len(loaded.scorer.classes[task]))
        np.testing.assert_allclose(probs[task].sum(axis=1), 1.0, atol=1e-6)


def test_quantization_agreement_is_one_for_identical_vectors_and_drops_with_noise(data: Any,
                                                                                  tiny_config: Any) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(data), encoder.DIMENSION)).astype(np.float32)
    x[np.arange(len(data)), data.y["topic"]] += 4.0  # make the topic learnable
    same = quantization_agreement(x, x.copy(), data, tiny_config.config)
    assert same == {"topic": 1.0, "stance": 1.0}
    noisy = quantization_agreement(x, x + rng.normal(scale=3.0, size=x.shape), data, tiny_config.config)
    assert noisy["topic"] < 0.9


NO_TORCH = ("import sys; from karabakh_tagger.cli import main; code = main(sys.argv[1:]); "
            "bad = [m for m in ('torch', 'sklearn', 'transformers') if m in sys.modules]; "
            "print('IMPORTED ' + ','.join(bad) if bad else 'CLEAN', file=sys.stderr); sys.exit(code)")


def test_tagging_with_the_encoder_never_imports_torch_or_sklearn(encoder_models: Path) -> None:
    done = subprocess.run([sys.executable, "-c", NO_TORCH, "tag", str(ARTICLES_DIR), "--models",
                           str(encoder_models), "--model", "encoder"], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("CLEAN"), done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 109 and {r["stance"] for r in rows} <= {"supportive", "critical", "neutral"}


BLOCK = ("import importlib.abc, sys\n"
         "class Block(importlib.abc.MetaPathFinder):\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in ('onnxruntime', 'tokenizers'):\n"
         "            raise ImportError(name)\n"
         "sys.meta_path.insert(0, Block())\n")


def test_without_the_encoder_packages_the_encoder_is_one_line_and_the_baseline_still_tags(
        encoder_models: Path, tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCK, encoding="utf-8")
    env = {**ENV, "PYTHONPATH": str(tmp_path)}
    article = sorted(ARTICLES_DIR.glob("*.txt"))[0]
    run = run_cli("tag", article, "--models", encoder_models, "--model", "encoder", env=env)
    assert run.code == 1 and len(run.err_lines) == 1 and "pip install" in run.err, run.describe()
    assert "--model baseline" in run.err and "Traceback" not in run.err
    run = run_cli("tag", article, "--models", encoder_models, "--model", "baseline", env=env)
    assert run.code == 0 and run.rows(), run.describe()


@pytest.mark.parametrize(("damage", "fragment"), [
    (lambda m: (m / "encoder.onnx").write_bytes(b"\x08\x07not a graph"), "encoder.onnx does not match"),
    (lambda m: (m / "encoder_heads.npz").unlink(), "encoder_heads.npz: missing; run make train"),
])
def test_a_damaged_encoder_is_one_line(encoder_models: Path, tmp_path: Path, damage: Any,
                                       fragment: str) -> None:
    copy = tmp_path / "models"
    shutil.copytree(encoder_models, copy)
    damage(copy)
    run = run_cli("tag", "-", "--models", copy, "--model", "encoder", stdin=b"The truce holds.")
    assert run.code == 1 and len(run.err_lines) == 1 and fragment in run.err, run.describe()
    assert run_cli("tag", "-", "--models", copy, "--model", "baseline", stdin=b"The truce holds.").code == 0


def test_cuda_without_a_gpu_is_one_line(encoder_models: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the refusal cannot be shown here")
    run = run_cli("tag", "-", "--models", encoder_models, "--model", "encoder", "--device", "cuda",
                  stdin=b"The truce holds.")
    assert run.code == 1 and "no CUDA provider" in run.err and len(run.err_lines) == 1
