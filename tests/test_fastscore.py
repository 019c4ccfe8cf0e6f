"""The numpy scorer must give the pipelines' own probabilities, and tagging must not need sklearn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karabakh_tagger import fastscore
from karabakh_tagger.config import load_config
from karabakh_tagger.data import load_labels
from karabakh_tagger.train import label_names, named_pipeline, run_training, train_all

from conftest import CLI_ENV, LABELS_FILE, ROOT


@pytest.fixture(scope="module")
def pipelines(dataset: Any, tiny_config: Any) -> dict[str, Any]:
    return {task: named_pipeline(t, label_names(dataset, task))
            for task, t in train_all(dataset, tiny_config).items()}


@pytest.fixture(scope="module")
def scorer(pipelines: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    arrays = fastscore.export(pipelines)
    assert arrays is not None
    path = tmp_path_factory.mktemp("fast") / "fast.npz"
    fastscore.save(arrays, path)
    return fastscore.LinearScorer.load(path)


def _same(scorer: Any, pipelines: dict[str, Any], texts: list[str]) -> None:
    got = scorer.predict_proba(texts)
    for task in ("topic", "stance"):
        expected = pipelines[task].predict_proba(texts)
        assert scorer.classes[task] == [str(c) for c in pipelines[task].classes_]
        np.testing.assert_allclose(got[task], expected, atol=1e-5)


def test_matches_the_pipelines_on_every_labelled_sentence(scorer: Any, pipelines: dict[str, Any]) -> None:
    texts = [json.loads(line)["text"] for line in LABELS_FILE.read_text(encoding="utf-8").splitlines()]
    authored = ROOT / "labels" / "authored.jsonl"
    texts += [json.loads(line)["text"] for line in authored.read_text(encoding="utf-8").splitlines()]
    _same(scorer, pipelines, texts)


def test_matches_on_awkward_text(scorer: Any, pipelines: dict[str, Any]) -> None:
    # Composed for this test: accents, curly quotes, no known word, repeats, empty, very long.
    texts = ["", "   ", "Zürich, Baku: “naïve” CAFÉ — ÉTÉ!", "日本語のテキスト", "qqq zzz",
             "Turkey Turkey Turkey turkey", "the ceasefire " * 500, "ﬁve ligatures ½"]
    _same(scorer, pipelines, texts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                        max_size=80), min_size=1, max_size=5))
def test_matches_on_arbitrary_text(scorer: Any, pipelines: dict[str, Any], texts: list[str]) -> None:
    _same(scorer, pipelines, texts)


def test_other_feature_kinds_are_not_exported(dataset: Any, tiny_config_path: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "char.yaml"
    config_path.write_text(tiny_config_path.read_text().replace("kind: word", "kind: char"))
    config = load_config(config_path)
    trained = train_all(dataset, config)
    assert fastscore.export({task: t.pipeline for task, t in trained.items()}) is None
    manifest = run_training(dataset, config, tmp_path / "models", LABELS_FILE, config_path)
    assert "fast" not in manifest["artifacts"]
    from karabakh_tagger.tag import load_tagger

    tagger = load_tagger(tmp_path / "models")
    assert tagger.scorer is None and tagger.tag("Turkey will send troops.")


def test_tagging_through_the_cli_never_imports_sklearn(tiny_config: Any, tiny_config_path: Path,
                                                       tmp_path: Path) -> None:
    run_training(load_labels(LABELS_FILE), tiny_config, tmp_path / "models", LABELS_FILE, tiny_config_path)
    script = ("import sys; from karabakh_tagger.cli import main; "
              f"code = main(['tag', {str(ROOT / 'data' / 'articles')!r}, '--models', "
              f"{str(tmp_path / 'models')!r}]); "
              "print('SKLEARN' if 'sklearn' in sys.modules else 'NO-SKLEARN', file=sys.stderr); "
              "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=CLI_ENV,
                          cwd=ROOT, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "NO-SKLEARN" in done.stderr
    assert len(done.stdout.splitlines()) == 109
