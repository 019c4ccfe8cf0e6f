"""End to end through the real command line, into temp folders: validate, train, eval, tag.

The models come from the session's ``karabakh-tagger train --set ... --models TMP`` (conftest);
this test checks what train wrote, then runs eval and tag as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ARTICLES_DIR, ENCODER_TINY, ENV, FIELDS, ROOT, run_cli, set_args


def test_validate_train_eval_tag_end_to_end(encoder_models: Path, small_authored: Path,
                                            tmp_path: Path) -> None:
    """Both families trained (the fixture), evaluated, compared by the rule, and the recommended one
    tags through the CLI."""
    models = encoder_models
    assert run_cli("validate", small_authored, "--labels", ROOT / "labels" / "sentences.jsonl").code == 0
    manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        assert (models / name).stat().st_size == info["bytes"] > 0, name
    assert (models / "README.md").read_text(encoding="utf-8").startswith("# Model card")

    reports = tmp_path / "reports"
    run = run_cli("eval", *set_args(ENCODER_TINY), "--authored", small_authored, "--models", models,
                  "--out", reports, "--jobs", "2")
    assert run.code == 0, run.describe()
    assert "Traceback" not in run.err
    for name in ("metrics.json", "report.md", "oof_predictions.jsonl", "confusion_baseline_topic.png",
                 "confusion_baseline_stance.png", "learning_curve.png", "reliability.png"):
        assert (reports / name).is_file() and (reports / name).stat().st_size > 0, name
    metrics = json.loads((reports / "metrics.json").read_text(encoding="utf-8"))
    evaluated = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
    assert set(metrics["families"]) == set(evaluated["models"]) == {"baseline", "encoder"}
    assert evaluated["recommended"] == metrics["recommended"] == metrics["winners"]["stance"]
    for family in ("baseline", "encoder"):
        for task in ("topic", "stance"):
            assert (evaluated["models"][family]["evaluation"][task]["loao_macro_f1"]
                    == metrics["families"][family]["tasks"][task]["loao"]["macro_f1"])
    assert "## Choosing the model" in (reports / "report.md").read_text(encoding="utf-8")
    oof = [json.loads(line) for line in (reports / "oof_predictions.jsonl").read_text().splitlines()]
    assert {r["source"] for r in oof} == {"corpus", "authored"}

    other = run_cli("eval", "--authored", small_authored, "--models", models, "--out", tmp_path / "r2")
    assert other.code == 1 and "trained on other labels or another config" in other.err

    article = sorted(ARTICLES_DIR.glob("*.txt"))[0]
    out = tmp_path / "tags.jsonl"
    with out.open("wb") as handle:  # stdout straight into the file, like `tag ... > tags.jsonl`
        done = subprocess.run([sys.executable, "-m", "karabakh_tagger.cli", "tag", str(article),
                               "--models", str(models)], stdout=handle, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, cwd=ROOT, env=ENV, timeout=300, check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    content = article.read_bytes().decode("utf-8")
    assert len(rows) > 10 and all(list(r) == FIELDS for r in rows)
    other = run_cli("tag", article, "--models", models, "--model", "baseline")
    assert other.code == 0 and len(other.rows()) == len(rows)
    assert all(content[r["start"]:r["end"]] == r["text"] for r in rows)
    assert {r["topic"] for r in rows} <= set(manifest["labels"]["topic"])
