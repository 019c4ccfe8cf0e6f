"""The on-disk format: save swaps a whole verified set in, load checks each file from the bytes it
builds the scorer from, and every damaged or foreign folder is one line."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from karabakh_tagger import artifacts, fastscore
from karabakh_tagger.config import load_config
from karabakh_tagger.errors import InputError
from karabakh_tagger.fastscore import LinearScorer
from karabakh_tagger.files import WriteError
from karabakh_tagger.labels import TASKS
from karabakh_tagger.model import BASELINE, make_vectorizer
from karabakh_tagger.scorers import PipelineScorer, Scorer
from karabakh_tagger.train import train_family

from conftest import BASE_CONFIG, LABELS_FILE, write_marker_pickle


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def family(data: Any, tiny_config: Any) -> Any:
    return train_family(BASELINE, data, tiny_config.config, "tiny")


@pytest.fixture(scope="module")
def provenance(small_authored: Path, tiny_config: Any, data: Any) -> Any:
    from karabakh_tagger.data import load_data

    return artifacts.Provenance(load_data(LABELS_FILE, small_authored)[1], tiny_config, data.texts)


def test_save_writes_the_set_and_a_manifest_that_reads_back(family: Any, provenance: Any,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "models"
    manifest = artifacts.save([family], out, provenance)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*artifacts.BASELINE_FILES.values(), artifacts.MANIFEST, artifacts.CARD])
    assert artifacts.read_manifest(out) == manifest
    assert manifest.format_version == artifacts.FORMAT_VERSION
    for name, info in manifest.files.items():
        assert info.sha256 == _sha(out / name) and info.bytes == (out / name).stat().st_size
    assert manifest.versions["scikit-learn"] == sklearn.__version__
    assert manifest.versions["numpy"] == np.__version__
    assert manifest.data.labels_sha256 == _sha(LABELS_FILE)
    assert manifest.data.composed_rows == provenance.data.composed_rows > 0
    assert manifest.config.values_sha256 == provenance.config.values_sha256
    assert manifest.config.overrides == provenance.config.overrides
    baseline = manifest.models["baseline"]
    assert baseline.scorer == "linear" and baseline.files == artifacts.BASELINE_FILES
    for task in TASKS:
        assert baseline.tasks[task].classes == manifest.labels[task]
        assert baseline.tasks[task].params == family.tasks[task].params
    assert manifest.recommended is None and manifest.evaluated is None
    assert list(tmp_path.iterdir()) == [out]  # no temporary folder left behind


def test_the_saved_scorer_gives_the_pipelines_probabilities(family: Any, provenance: Any,
                                                             tmp_path: Path) -> None:
    artifacts.save([family], tmp_path / "m", provenance)
    loaded = artifacts.load(tmp_path / "m")
    assert loaded.model == "baseline" and isinstance(loaded.scorer, LinearScorer)
    assert isinstance(loaded.scorer, Scorer)
    texts = list(provenance.texts[:200])
    got = loaded.scorer.predict_proba(texts)
    pipelines = artifacts.load_pipelines(tmp_path / "m")
    for task in TASKS:
        np.testing.assert_allclose(got[task], pipelines[task].predict_proba(texts), atol=1e-6)


def test_a_failed_save_leaves_the_previous_set_working(family: Any, provenance: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "models"
    artifacts.save([family], out, provenance)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(path: Path, obj: Any) -> None:
        path.write_bytes(b"half a pickle")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts, "_dump", crash)
    with pytest.raises(WriteError, match=rf"^{re.escape(str(out))}: cannot be written \(No space left"):
        artifacts.save([family], out, provenance)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert artifacts.load(out).model == "baseline"


def test_an_interrupted_save_into_a_new_folder_leaves_nothing(family: Any, provenance: Any,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(path: Path, obj: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts, "_dump", interrupt)
    with pytest.raises(KeyboardInterrupt):
        artifacts.save([family], tmp_path / "models", provenance)
    assert list(tmp_path.iterdir()) == []


def test_a_new_set_replaces_the_old_one_as_a_whole(family: Any, provenance: Any, tmp_path: Path) -> None:
    out = tmp_path / "models"
    artifacts.save([family], out, provenance)
    (out / "stale.npz").write_bytes(b"from an older training")
    artifacts.save([family], out, provenance)
    assert not (out / "stale.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_a_folder_that_is_not_a_model_folder_is_never_replaced(family: Any, provenance: Any,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="not a model folder"):
        artifacts.save([family], out, provenance)
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "mine"


def test_temporary_folders_of_killed_trainings_are_removed(family: Any, provenance: Any,
                                                            tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".models.tmp-{dead}-abc123"
    stale.mkdir()
    (stale / "topic.joblib").write_bytes(b"half")
    artifacts.save([family], tmp_path / "models", provenance)
    assert not stale.exists()


def test_an_export_that_differs_from_its_pipelines_is_refused(family: Any, provenance: Any,
                                                              tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real = LinearScorer.predict_proba

    def off(self: LinearScorer, texts: list[str]) -> dict[str, np.ndarray]:
        out = real(self, texts)
        out["stance"] = out["stance"][:, ::-1].copy()
        return out

    monkeypatch.setattr(LinearScorer, "predict_proba", off)
    with pytest.raises(InputError, match=r"export of fast\.npz refused: stance: the numpy scorer "
                                         r"differs from the pipeline"):
        artifacts.save([family], tmp_path / "models", provenance)
    assert list(tmp_path.iterdir()) == []


def test_char_features_are_saved_without_fast_npz_and_tag_through_the_pipelines(
        data: Any, tiny_config: Any, provenance: Any, tmp_path: Path) -> None:
    config = tiny_config.config.with_value("features.kind", "char")
    char = train_family(BASELINE, data, config, "char")
    manifest = artifacts.save([char], tmp_path / "m", provenance)
    info = manifest.models["baseline"]
    assert "fast" not in info.files and info.scorer == "pipelines"
    assert (info.note or "").startswith("no fast.npz: topic: the TfidfVectorizer has settings")
    loaded = artifacts.load(tmp_path / "m")
    assert isinstance(loaded.scorer, PipelineScorer)
    assert loaded.scorer.predict_proba(["Turkey will send troops."])["topic"].shape == (1, 9)


@pytest.mark.parametrize(("classifier", "binary", "reason"), [
    (OneVsRestClassifier(LogisticRegression()), False, "not a LogisticRegression"),
    (LogisticRegression(), True, "one-vs-rest or binary"),
])
def test_one_vs_rest_and_binary_models_are_refused_by_the_export(classifier: Any, binary: bool,
                                                                 reason: str, corpus_data: Any) -> None:
    vec = make_vectorizer(load_config(BASE_CONFIG).config.features)
    y = corpus_data.y["topic"] == 0 if binary else corpus_data.y["topic"]
    pipeline = Pipeline([("tfidf", vec), ("clf", classifier)]).fit(list(corpus_data.texts), y)
    assert reason in (fastscore.eligibility(pipeline) or "")
    with pytest.raises(fastscore.ExportError, match=reason):
        fastscore.export({"topic": pipeline, "stance": pipeline})


# --- loading -----------------------------------------------------------------------------------

def test_a_pickle_swapped_in_after_the_manifest_was_read_is_never_unpickled(
        models_copy: Path, tmp_path: Path) -> None:
    manifest = artifacts.read_manifest(models_copy)
    marker = tmp_path / "ran"
    write_marker_pickle(models_copy / "topic.joblib", marker)
    with pytest.raises(InputError, match=r"topic\.joblib does not match .*manifest\.json; retrain"):
        artifacts.load_pipelines(models_copy, manifest)
    assert not marker.exists()


def test_tagging_with_fast_npz_never_unpickles_anything(models_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for task in TASKS:
        write_marker_pickle(models_copy / f"{task}.joblib", marker)
    loaded = artifacts.load(models_copy)
    assert loaded.scorer.predict_proba(["The truce holds."])["stance"].shape == (1, 3)
    assert not marker.exists()
    with pytest.raises(InputError, match="does not match"):
        artifacts.verify_all(models_copy)


@pytest.mark.parametrize(("damage", "fragment"), [
    (lambda m: (m / "manifest.json").write_text("{not json", encoding="utf-8"), "unreadable manifest"),
    (lambda m: (m / "manifest.json").unlink(), "no trained model here; run make train"),
    (lambda m: (m / "fast.npz").unlink(), "fast.npz: missing; run make train"),
    (lambda m: (m / "fast.npz").write_bytes(b"PK\x03\x04 not really"), "fast.npz does not match"),
    (lambda m: _edit(m, lambda d: d.update(format_version=1)), "model format 1"),
    (lambda m: _edit(m, lambda d: d["models"]["baseline"].update(files="topic.joblib")),
     "key 'models.baseline.files'"),
    (lambda m: _edit(m, lambda d: d["files"].pop("fast.npz")), "without a hash"),
    (lambda m: _edit(m, lambda d: d["models"]["baseline"]["files"].update(fast="../x")), "without a hash"),
    (lambda m: _edit(m, lambda d: d.update(created=float("nan"))), "key 'created'"),
])
def test_a_damaged_folder_is_one_line(models_copy: Path, damage: Any, fragment: str) -> None:
    damage(models_copy)
    with pytest.raises(InputError) as err:
        artifacts.load(models_copy)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def _edit(folder: Path, change: Any) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_choose_is_the_recommended_model_when_trained(models_copy: Path) -> None:
    manifest = artifacts.read_manifest(models_copy)
    assert artifacts.choose(manifest) == "baseline"
    with pytest.raises(InputError, match="no encoder model in this folder"):
        artifacts.choose(manifest, "encoder")


def test_record_evaluation_rewrites_manifest_and_card(models_copy: Path) -> None:
    headline = artifacts.Headline(0.4, 0.6, 0.7, 0.1, None)
    manifest = artifacts.record_evaluation(models_copy, {"baseline": {"topic": headline}},
                                           {"baseline": 1234.5}, "baseline")
    again = artifacts.read_manifest(models_copy)
    assert again == manifest and again.recommended == "baseline" and again.evaluated
    assert again.models["baseline"].evaluation == {"topic": headline}
    assert again.models["baseline"].sentences_per_second == 1234.5
    card = (models_copy / "README.md").read_text(encoding="utf-8")
    assert "### baseline (recommended)" in card and "| topic | 0.400 (0.600) | 0.100 | 0.700 |" in card
