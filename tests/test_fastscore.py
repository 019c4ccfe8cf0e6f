"""The numpy scorer gives the pipelines' own probabilities, and tagging never needs scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karabakh_tagger import artifacts, fastscore
from karabakh_tagger.labels import TASKS

from conftest import ARTICLES_DIR, ENV, ROOT


@pytest.fixture(scope="module")
def pipelines(models: Path) -> dict[str, Any]:
    return artifacts.load_pipelines(models)


@pytest.fixture(scope="module")
def scorer(models: Path) -> fastscore.LinearScorer:
    loaded = artifacts.load(models)
    assert isinstance(loaded.scorer, fastscore.LinearScorer)
    return loaded.scorer


def _same(scorer: Any, pipelines: dict[str, Any], texts: list[str]) -> None:
    got = scorer.predict_proba(texts)
    for task in TASKS:
        assert scorer.classes[task] == [str(c) for c in pipelines[task].classes_]
        np.testing.assert_allclose(got[task], pipelines[task].predict_proba(texts), atol=1e-5)


def test_matches_the_pipelines_on_every_labelled_sentence(scorer: Any, pipelines: dict[str, Any],
                                                          data: Any) -> None:
    _same(scorer, pipelines, list(data.texts))


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


def test_the_shared_vocabulary_is_stored_once_and_compressed(models: Path, pipelines: dict[str, Any]) -> None:
    with np.load(models / "fast.npz", allow_pickle=False) as arrays:
        names = set(arrays.files)
        assert int(arrays["format_version"]) == fastscore.FORMAT_VERSION
    assert [n for n in names if n.startswith("vocabulary")] == ["vocabulary0"]
    arrays = fastscore.export(pipelines)
    raw = sum(a.nbytes for a in arrays.values())
    assert (models / "fast.npz").stat().st_size < raw / 2


def test_tagging_through_the_cli_never_imports_sklearn(models: Path) -> None:
    script = ("import sys; from karabakh_tagger.cli import main; "
              f"code = main(['tag', {str(ARTICLES_DIR)!r}, '--models', {str(models)!r}]); "
              "print('SKLEARN' if 'sklearn' in sys.modules else 'NO-SKLEARN', file=sys.stderr); "
              "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV,
                          cwd=ROOT, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "NO-SKLEARN" in done.stderr
    assert len(done.stdout.splitlines()) == 109
