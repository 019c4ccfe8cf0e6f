"""Training: leak-free splits, determinism, standalone artifacts, manifest, model card, atomic saves."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from karabakh_tagger import train
from karabakh_tagger.config import Config
from karabakh_tagger.data import load_labels
from karabakh_tagger.labels import STANCES, TASKS, TOPICS

from conftest import CLI_ENV, LABELS_FILE, TINY_GRID_C

SAMPLES = [
    "Turkey will send troops to monitor the ceasefire together with Russian peacekeepers.",
    "France demands clarity about the role of foreign fighters in Nagorno-Karabakh.",
    "Thousands of refugees have fled their homes.",
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- splits ----------------------------------------------------------------------------------------

def test_article_splits_are_leave_one_article_out_without_leaks(dataset: Any) -> None:
    articles = np.asarray(dataset["article"], dtype=object)
    groups = np.asarray(dataset["group"])
    splits = train.article_splits(dataset["article"], dataset["group"])
    assert len(splits) == 5
    held_out = [set(articles[test]) for _, test in splits]
    assert all(len(h) == 1 for h in held_out)
    assert [h.pop() for h in held_out] == sorted(set(dataset["article"]))
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(len(dataset)))  # every row tested exactly once
    dropped = 0
    for train_idx, test_idx in splits:
        assert not set(articles[train_idx]) & set(articles[test_idx])
        assert not set(groups[train_idx]) & set(groups[test_idx])
        assert not set(train_idx) & set(test_idx)
        dropped += len(dataset) - len(train_idx) - len(test_idx)
    # the two cross-article copies (000/001 and 003/004) each cost one training row in two folds
    assert dropped == 4


def test_a_copy_in_another_article_is_dropped_from_training(dataset: Any) -> None:
    ids = list(dataset["id"])
    copy = ids.index("004_b77860f708447555-004")  # copy of 003_f3ac13cd7658a600-006
    for train_idx, test_idx in train.article_splits(dataset["article"], dataset["group"]):
        held_out = dataset["article"][int(test_idx[0])]
        if held_out == "003_f3ac13cd7658a600":
            assert copy not in train_idx
        elif held_out != "004_b77860f708447555":
            assert copy in train_idx


def test_article_splits_restricted_to_indices() -> None:
    articles = ["a", "a", "b", "b", "c", "c"]
    groups = [0, 1, 2, 3, 4, 1]  # row 5 (article c) copies row 1 (article a)
    splits = train.article_splits(articles, groups, indices=np.array([0, 1, 2, 3, 5]))
    as_lists = [(tr.tolist(), te.tolist()) for tr, te in splits]
    assert as_lists == [([2, 3], [0, 1]), ([0, 1, 5], [2, 3]), ([0, 2, 3], [5])]


@pytest.fixture(scope="module")
def with_authored(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real labels plus three authored rows, one of them a near copy of a corpus sentence."""
    path = tmp_path_factory.mktemp("authored") / "authored.jsonl"
    rows = [
        {"id": "a-0", "text": "Refugees started to return to their villages near Lachin.",
         "topic": "refugees_humanitarian", "stance": "neutral", "source": "authored"},
        {"id": "a-1", "text": "Parliament debated the agreement late into the night.",
         "topic": "domestic_politics", "stance": "critical", "source": "authored"},
        {"id": "a-2", "text": "Russia and Armenia are members of a collective defence pact!",
         "topic": "conflict_background", "stance": "neutral", "source": "authored"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return load_labels(LABELS_FILE, path)


def test_authored_rows_are_never_tested(with_authored: Any) -> None:
    articles = np.asarray(with_authored["article"], dtype=object)
    authored = set(np.flatnonzero(articles == train.AUTHORED).tolist())
    assert len(authored) == 3
    splits = train.article_splits(with_authored["article"], with_authored["group"])
    assert len(splits) == 5  # "authored" is not a fold
    for _, test_idx in splits:
        assert not authored & set(test_idx.tolist())
    near_copy = max(authored)  # a-2 copies 000_81677d10f4735300-002
    ids = list(with_authored["id"])
    assert with_authored["group"][near_copy] == with_authored["group"][ids.index("000_81677d10f4735300-002")]
    for train_idx, test_idx in splits:
        held_out = with_authored["article"][int(test_idx[0])]
        expected = authored - {near_copy} if held_out == "000_81677d10f4735300" else authored
        assert authored & set(train_idx.tolist()) == expected


# ---- training and artifacts ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Any, tiny_config: Config,
            tiny_config_path: Path) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("trained") / "models"
    manifest = train.run_training(dataset, tiny_config, out, LABELS_FILE, tiny_config_path)
    return out, manifest


def test_training_writes_the_artifacts(trained: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = trained
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "fast.npz", "manifest.json", "stance.joblib", "topic.joblib"]
    on_disk = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(manifest))


def test_training_is_deterministic(trained: tuple[Path, dict[str, Any]], dataset: Any,
                                   tiny_config: Config, tiny_config_path: Path, tmp_path: Path) -> None:
    out, first = trained
    second = train.run_training(dataset, tiny_config, tmp_path / "again", LABELS_FILE, tiny_config_path)
    texts = list(dataset["text"])
    for task in TASKS:
        a = joblib.load(out / f"{task}.joblib")
        b = joblib.load(tmp_path / "again" / f"{task}.joblib")
        assert np.array_equal(a.predict_proba(texts), b.predict_proba(texts))
        assert a.classes_.tolist() == b.classes_.tolist()
        assert first["tasks"][task] == second["tasks"][task]
    assert first["config"] == second["config"]
    assert first["data"] == second["data"]


def test_manifest_contents(trained: tuple[Path, dict[str, Any]], dataset: Any,
                           tiny_config: Config, tiny_config_path: Path) -> None:
    out, _ = trained
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for task in TASKS:
        info = manifest["artifacts"][task]
        path = out / info["file"]
        assert info["file"] == f"{task}.joblib"
        assert info["sha256"] == _sha256(path)
        assert info["bytes"] == path.stat().st_size
    versions = manifest["versions"]
    for package in ("python", "scikit-learn", "numpy", "joblib", "datasets"):
        assert versions[package] and versions[package] != "not installed", package
    import datasets
    import sklearn

    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["numpy"] == np.__version__
    assert versions["joblib"] == joblib.__version__
    assert versions["datasets"] == datasets.__version__
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert manifest["data"]["labels_sha256"] == _sha256(LABELS_FILE)
    assert manifest["data"]["rows"] == len(dataset) == 109
    assert manifest["data"]["articles"] == sorted(set(dataset["article"]))
    assert manifest["data"]["authored_rows"] == 0
    assert manifest["config"]["sha256"] == _sha256(tiny_config_path)
    assert manifest["config"]["values"] == json.loads(json.dumps(tiny_config.to_dict()))
    assert manifest["labels"] == {"topic": list(TOPICS), "stance": list(STANCES)}
    for task in TASKS:
        info = manifest["tasks"][task]
        assert set(info["params"]) == {"clf__C"}
        assert info["params"]["clf__C"] in TINY_GRID_C
        assert 0.0 <= info["cv_macro_f1"] <= 1.0


def test_model_card_mentions_the_chosen_params(trained: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = trained
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# Model card")
    for task in TASKS:
        info = manifest["tasks"][task]
        row = next(line for line in card.splitlines() if line.startswith(f"| {task} |"))
        for key, value in info["params"].items():
            assert f"`{key}={value}`" in row
        assert f"{info['cv_macro_f1']:.3f}" in row
        assert ", ".join(manifest["labels"][task]) in row
    assert manifest["data"]["labels_sha256"][:16] in card
    assert manifest["versions"]["scikit-learn"] in card


STANDALONE = r"""
import importlib.abc, json, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "karabakh_tagger":
            raise ImportError("karabakh_tagger must not be needed to load an artifact")
        return None

sys.meta_path.insert(0, Block())
import joblib
texts = json.loads(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    m = joblib.load(path)
    out[path] = {"pred": m.predict(texts).tolist(), "classes": m.classes_.tolist(),
                 "proba_rows": len(m.predict_proba(texts))}
out["kt_loaded"] = any(k.split(".")[0] == "karabakh_tagger" for k in sys.modules)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def standalone(trained: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, Any]:
    """Both artifacts loaded by a plain script that cannot import karabakh_tagger."""
    out, _ = trained
    folder = tmp_path_factory.mktemp("standalone")
    script = folder / "standalone.py"
    script.write_text(STANDALONE, encoding="utf-8")
    paths = [str(out / f"{task}.joblib") for task in TASKS]
    done = subprocess.run([sys.executable, str(script), json.dumps(SAMPLES), *paths], cwd=folder,
                          env=CLI_ENV, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(("task", "names"), list(TASKS.items()))
def test_artifacts_load_in_a_plain_script(task: str, names: tuple[str, ...], standalone: dict[str, Any],
                                          trained: tuple[Path, dict[str, Any]]) -> None:
    out, _ = trained
    assert standalone["kt_loaded"] is False
    result = standalone[str(out / f"{task}.joblib")]
    assert result["classes"] == list(names)
    assert len(result["pred"]) == len(SAMPLES) == result["proba_rows"]
    assert set(result["pred"]) <= set(names)
    # the same predictions as in this process
    assert result["pred"] == joblib.load(out / f"{task}.joblib").predict(SAMPLES).tolist()


# ---- atomic saves -------------------------------------------------------------------------------

def _no_temp_files(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_failed_save_leaves_the_previous_artifacts(trained: tuple[Path, dict[str, Any]], dataset: Any,
                                                   tiny_config: Config, tiny_config_path: Path,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = trained
    out = tmp_path / "models"
    out.mkdir()
    for path in source.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(value: Any, filename: Any, *args: Any, **kwargs: Any) -> None:
        Path(filename).write_bytes(b"half a pickle")  # the write starts, then fails
        raise OSError("disk full")

    monkeypatch.setattr(train.joblib, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        train.run_training(dataset, tiny_config, out, LABELS_FILE, tiny_config_path)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _no_temp_files(out) == []


def test_failed_save_into_a_new_folder_leaves_no_files(dataset: Any, tiny_config: Config,
                                                       tiny_config_path: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(value: Any, filename: Any, *args: Any, **kwargs: Any) -> None:
        Path(filename).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(train.joblib, "dump", crash)
    out = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        train.run_training(dataset, tiny_config, out, LABELS_FILE, tiny_config_path)
    assert list(out.iterdir()) == []


def test_atomic_write_text(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    train.atomic_write_text(path, "one")
    assert path.read_text(encoding="utf-8") == "one"

    def fail(tmp: Path) -> None:
        tmp.write_text("partial", encoding="utf-8")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        train.atomic_write(path, fail)
    assert path.read_text(encoding="utf-8") == "one"
    assert _no_temp_files(tmp_path) == []


def test_artifacts_get_the_usual_file_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "a.txt"
    train.atomic_write_text(path, "x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
