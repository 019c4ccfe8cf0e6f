"""Training: the search inside the training rows, determinism, plain pipelines that load anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from karabakh_tagger.labels import STANCES, TASKS, TOPICS
from karabakh_tagger.model import BASELINE
from karabakh_tagger.train import fit_task, train_family

from conftest import ENV

SAMPLES = [  # composed for these tests
    "Turkey will send troops to monitor the ceasefire together with Russian peacekeepers.",
    "France demands clarity about the role of foreign fighters in Nagorno-Karabakh.",
    "Thousands of refugees have fled their homes.",
]


@pytest.fixture(scope="module")
def trained(data: Any, tiny_config: Any) -> Any:
    return train_family(BASELINE, data, tiny_config.config, "tiny")


def test_the_pipelines_predict_scheme_names_in_scheme_order(trained: Any) -> None:
    for task, names in TASKS.items():
        pipeline = trained.tasks[task].pipeline
        assert pipeline.classes_.tolist() == list(names)
        assert set(pipeline.predict(SAMPLES)) <= set(names)


def test_hyperparameters_come_from_the_grid_with_a_pooled_inner_score(trained: Any) -> None:
    for task in TASKS:
        t = trained.tasks[task]
        assert set(t.params) == {"classifier.C", "classifier.class_weight"}
        assert t.params["classifier.C"] in (1.0, 10.0) and t.params["classifier.class_weight"] == "balanced"
        assert 0 < t.inner_score < 1
        assert t.params["classifier.C"] == t.pipeline.named_steps["clf"].C


def test_training_is_deterministic(trained: Any, data: Any, tiny_config: Any) -> None:
    again = train_family(BASELINE, data, tiny_config.config, "tiny")
    texts = list(data.texts[:300])
    for task in TASKS:
        assert np.array_equal(trained.tasks[task].pipeline.predict_proba(texts),
                              again.tasks[task].pipeline.predict_proba(texts))
        assert trained.tasks[task].params == again.tasks[task].params


def test_fit_task_uses_only_the_given_rows(data: Any, tiny_config: Any) -> None:
    x = BASELINE.features(data)
    rows = np.flatnonzero(data.y["stance"] != STANCES.index("supportive"))
    fitted = fit_task(BASELINE, "stance", x, data, tiny_config.config, rows=rows)
    assert fitted.pipeline.classes_.tolist() == [STANCES.index("critical"), STANCES.index("neutral")]
    vocabulary = fitted.pipeline.named_steps["tfidf"].vocabulary_
    only_elsewhere = {w for i in np.flatnonzero(data.y["stance"] == 0) for w in data.texts[i].lower().split()}
    seen = {w for i in rows for w in data.texts[i].lower().split()}
    assert any(w.isalpha() and w not in vocabulary for w in only_elsewhere - seen)


def test_no_grid_means_the_config_values(data: Any, tiny_config: Any) -> None:
    config = replace(tiny_config.config, search=replace(tiny_config.config.search, grid={}))
    fitted = fit_task(BASELINE, "topic", BASELINE.features(data), data, config)
    assert fitted.params == {} and fitted.inner_score is None
    assert fitted.pipeline.named_steps["clf"].C == config.classifier.C


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


def test_the_saved_pipelines_load_in_a_plain_script(models: Path, tmp_path: Path) -> None:
    script = tmp_path / "standalone.py"
    script.write_text(STANDALONE, encoding="utf-8")
    files = [str(models / f"{task}.joblib") for task in TASKS]
    done = subprocess.run([sys.executable, str(script), json.dumps(SAMPLES), *files], cwd=tmp_path,
                          env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["kt_loaded"] is False
    for path, names in zip(files, (TOPICS, STANCES), strict=True):
        assert result[path]["classes"] == list(names)
        assert result[path]["pred"] == joblib.load(path).predict(SAMPLES).tolist()
        assert result[path]["proba_rows"] == len(SAMPLES)
