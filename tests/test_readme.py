"""The README's tables are generated: every block equals what the generator renders from the committed
snapshots, and the generator itself fills, replaces and refuses as it should."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from karabakh_tagger.errors import InputError
from karabakh_tagger.readme import _BLOCK, render_readme, update_readme

from conftest import ROOT

README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"


def test_every_generated_block_of_the_readme_is_what_the_generator_writes() -> None:
    text = README.read_text(encoding="utf-8")
    names = [m["name"] for m in _BLOCK.finditer(text)]
    assert {"results", "batches", "choice", "speed", "modules"} <= set(names)
    assert render_readme(text, RESULTS) == text, "the README's tables are stale: run make readme"


def test_the_results_block_carries_the_snapshot_numbers() -> None:
    metrics = json.loads((RESULTS / "metrics.json").read_text(encoding="utf-8"))
    block = next(m["body"] for m in _BLOCK.finditer(README.read_text(encoding="utf-8"))
                 if m["name"] == "results")
    for family, result in metrics["families"].items():
        for task, r in result["tasks"].items():
            assert f"| {family} | {task} | **{r['loao']['macro_f1']:.3f}**" in block


def test_the_modules_block_lists_every_module_of_the_package() -> None:
    block = next(m["body"] for m in _BLOCK.finditer(README.read_text(encoding="utf-8"))
                 if m["name"] == "modules")
    modules = sorted(p.stem for p in (ROOT / "src" / "karabakh_tagger").glob("*.py")
                     if not p.stem.startswith("_"))
    assert [line.split("`")[1] for line in block.splitlines()] == modules


def test_update_copies_snapshots_rewrites_stale_blocks_and_refuses_unknown_ones(tmp_path: Path) -> None:
    results, reports = tmp_path / "results", tmp_path / "reports"
    shutil.copytree(RESULTS, results)
    reports.mkdir()
    bench = json.loads((RESULTS / "bench.json").read_text(encoding="utf-8"))
    bench["rows"][0]["sentences_per_second"] = 123456.0
    (reports / "bench.json").write_text(json.dumps(bench), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- generated:speed -->\nold\n<!-- /generated:speed -->\ntail\n",
                      encoding="utf-8")
    assert update_readme(readme, results, snapshot_from=reports) == ["speed"]
    text = readme.read_text(encoding="utf-8")
    assert "| 123,456 |" in text and "old" not in text and text.endswith("tail\n")
    assert update_readme(readme, results) == []
    readme.write_text("<!-- generated:nonsense -->\n<!-- /generated:nonsense -->\n", encoding="utf-8")
    with pytest.raises(InputError, match="no renderer"):
        update_readme(readme, results)
