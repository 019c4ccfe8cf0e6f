"""End to end through the real command line, into a temp folder: train, eval, tag.

The models come from ``karabakh-tagger train --config tiny.yaml --models TMP/models`` (run once per
session by helpers_tag, shared with the other tagging tests); this test checks what train wrote,
then runs eval and tag as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers_tag import ARTICLES, ENV, FIELDS, ROOT, run_cli, tiny_models_dir, tiny_yaml_path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models_dir(tmp_path_factory)


def test_train_eval_tag_end_to_end(models, tmp_path, tmp_path_factory):
    # train (done by the fixture): both pipelines, their manifest and the model card
    for name in ("topic.joblib", "stance.joblib", "fast.npz", "manifest.json", "README.md"):
        assert (models / name).is_file() and (models / name).stat().st_size > 0, name
    manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["artifacts"]) == {"topic", "stance", "fast"}
    assert manifest["data"]["rows"] > 100

    # eval
    reports = tmp_path / "reports"
    run = run_cli("eval", "--config", tiny_yaml_path(tmp_path_factory), "--out", reports)
    assert run.code == 0, run.describe()
    assert "Traceback" not in run.err
    for name in ("metrics.json", "report.md", "oof_predictions.jsonl", "confusion_topic.png",
                 "confusion_stance.png", "learning_curve.png", "reliability.png"):
        assert (reports / name).is_file() and (reports / name).stat().st_size > 0, name
    metrics = json.loads((reports / "metrics.json").read_text(encoding="utf-8"))
    for task in ("topic", "stance"):
        assert 0 <= metrics[task]["macro_f1"] <= 1
    for png in reports.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png

    # tag an article into a file
    article = sorted(ARTICLES.glob("*.txt"))[0]
    out = tmp_path / "tags.jsonl"
    with out.open("wb") as handle:  # stdout straight into the file, like `tag ... > tags.jsonl`
        done = subprocess.run([sys.executable, "-m", "karabakh_tagger.cli", "tag", str(article),
                               "--models", str(models)], stdout=handle, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, cwd=ROOT, env=ENV, timeout=300, check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    content = article.read_bytes().decode("utf-8")
    assert len(rows) > 10
    assert all(list(r) == FIELDS for r in rows)
    assert all(content[r["start"] : r["end"]] == r["text"] for r in rows)
    assert {r["topic"] for r in rows} <= set(manifest["labels"]["topic"])
    assert {r["stance"] for r in rows} <= set(manifest["labels"]["stance"])
