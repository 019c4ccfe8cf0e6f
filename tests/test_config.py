"""The config: one base file, overrides, every key and range checked at load time, in one line."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from karabakh_tagger.config import SEARCHABLE, ClassifierConfig, Config, FeaturesConfig, load_config
from karabakh_tagger.errors import InputError

from conftest import BASE_CONFIG, TINY, run_cli, set_args


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _base_with(**changes: Any) -> str:
    """configs/baseline.yaml with some sections replaced or updated (as YAML text)."""
    data = yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def test_base_loads_into_typed_frozen_records() -> None:
    loaded = load_config(BASE_CONFIG)
    config, raw = loaded.config, yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(config, Config) and isinstance(config.features, FeaturesConfig)
    assert isinstance(config.classifier, ClassifierConfig)
    assert config.features.word_ngram_range == tuple(raw["features"]["word_ngram_range"])
    assert raw["classifier"]["C"] == config.classifier.C and isinstance(config.classifier.C, float)
    assert config.search.grid == raw["search"]["grid"]
    assert config.evaluation.learning_curve_rows == tuple(raw["evaluation"]["learning_curve_rows"])
    assert loaded.file_sha256 == hashlib.sha256(BASE_CONFIG.read_bytes()).hexdigest()
    assert loaded.overrides == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.classifier.C = 1.0  # type: ignore[misc]


def test_every_key_is_required_so_the_base_file_is_the_only_source_of_values(tmp_path: Path) -> None:
    data = yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
    del data["classifier"]["max_iter"]
    path = _write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"missing key 'classifier\.max_iter' \(int\)"):
        load_config(path)
    for cls in (Config, FeaturesConfig, ClassifierConfig):
        assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(cls))


def test_overrides_change_one_setting_and_the_values_hash() -> None:
    base = load_config(BASE_CONFIG)
    char = load_config(BASE_CONFIG, ["features.kind=char", "classifier.C=3"])
    assert char.config.features.kind == "char" and char.config.classifier.C == 3.0
    assert char.config.with_value("features.kind", "word").with_value("classifier.C", 10.0) == base.config
    assert char.values_sha256 != base.values_sha256 and char.file_sha256 == base.file_sha256
    assert char.overrides == ("features.kind=char", "classifier.C=3")
    grid = load_config(BASE_CONFIG, ["search.grid.classifier.C=[2, 20]"]).config.search.grid
    assert grid["classifier.C"] == [2.0, 20.0] and all(isinstance(v, float) for v in grid["classifier.C"])


def test_the_tiny_config_is_the_base_with_overrides(tiny_config: Any) -> None:
    assert tiny_config.overrides == TINY
    assert tiny_config.config.search.grid == {"classifier.C": [1.0, 10.0],
                                              "classifier.class_weight": ["balanced"]}
    assert tiny_config.config.features == load_config(BASE_CONFIG).config.features


BAD: dict[str, tuple[list[str], tuple[str, ...]]] = {
    # name: (overrides, fragments of the one-line message)
    "unknown top-level key": (["sede=13"], ("unknown key 'sede'", "known keys:", "seed")),
    "unknown nested key": (["classifier.Cc=1.0"], ("unknown key 'classifier.Cc'", "C, class_weight")),
    "string for a float": (["classifier.C=ten"], ("'classifier.C'", "float", "'ten'")),
    "bool for a float": (["classifier.C=true"], ("'classifier.C'", "float")),
    "NaN": (["classifier.C=.nan"], ("'classifier.C'", "float", "nan")),
    "infinity": (["features.max_df=.inf"], ("'features.max_df'",)),
    "negative C": (["classifier.C=-1"], ("'classifier.C'", "positive")),
    "float for an int": (["classifier.max_iter=20.5"], ("'classifier.max_iter'", "int")),
    "short range": (["features.word_ngram_range=[1]"], ("'features.word_ngram_range'",)),
    "reversed range": (["features.word_ngram_range=[3, 1]"], ("'features.word_ngram_range'",
                                                              "low <= high")),
    "zero min_df": (["features.min_df=0"], ("'features.min_df'", "at least 1")),
    "fraction above max_df": (["features.min_df=0.9", "features.max_df=0.5"], ("'features.min_df'",)),
    "unknown literal": (["features.kind=words"], ("'features.kind'", "word", "'words'")),
    "one-vs-rest solver": (["classifier.solver=liblinear"], ("'classifier.solver'",)),
    "empty grid list": (["search.grid.classifier.C=[]"], ("'search.grid.classifier.C'", "at least one")),
    "grid value of the wrong type": (["search.grid.classifier.C=[1, ten]"],
                                     ("'search.grid.classifier.C'", "'ten'")),
    "grid value out of range": (["search.grid.classifier.C=[0.0, 1.0]"],
                                ("'search.grid.classifier.C'", "positive")),
    "grid varies a feature": (["search.grid.features.kind=[word, char]"],
                              ("'search.grid.features.kind'", "variants", "--set")),
    "grid key unknown": (["search.grid.clf__C=[1.0]"], ("'search.grid.clf__C'", *SEARCHABLE[:1])),
    "grid values not a list": (["search.grid.classifier.C=1.0"], ("'search.grid'",)),
    "section not a mapping": (["classifier=3"], ("classifier must be a mapping",)),
    "tie tolerance too large": (["search.tie_tolerance=0.5"], ("'search.tie_tolerance'",)),
    "learning curve not rising": (["evaluation.learning_curve_rows=[500, 250]"],
                                  ("'evaluation.learning_curve_rows'",)),
    "override without =": (["features.kind"], ("--set 'features.kind'", "KEY=VALUE")),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_setting_is_one_line_naming_the_key_and_the_file(name: str) -> None:
    overrides, fragments = BAD[name]
    with pytest.raises(InputError) as err:
        load_config(BASE_CONFIG, overrides)
    message = str(err.value)
    assert "\n" not in message
    if "=" in overrides[0]:
        assert message.startswith(f"{BASE_CONFIG} (with --set ")
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(("text", "fragment"), [
    ("features: [1, 2\n", "not valid YAML"), ("seed: 13\n\tfoo: 1\n", "not valid YAML"),
    ("- a\n- b\n", "must be a mapping"), (b"seed: \xff\xfe", "not valid YAML"),
])
def test_a_broken_file_is_one_line(tmp_path: Path, text: str | bytes, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(InputError, match=fragment) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")


def test_a_single_typo_in_a_full_copy_is_found(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, _base_with(), "copy.yaml")).config == load_config(BASE_CONFIG).config
    with pytest.raises(InputError, match=r"unknown key 'classifier\.Cc'"):
        load_config(_write(tmp_path, _base_with(classifier={"Cc": 10.0})))
    with pytest.raises(InputError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("overrides", [["classifier.C=.nan"], ["features.word_ngram_range=[3, 1]"],
                                       ["search.grid.classifier.C=[]"], ["search.grid.features.kind=[char]"]])
def test_cli_train_with_a_bad_setting_fails_in_one_line_and_writes_nothing(
        tmp_path: Path, overrides: list[str]) -> None:
    run = run_cli("train", *set_args(overrides), "--models", tmp_path / "models")
    assert run.code == 1, run.describe()
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("error: configs/baseline.yaml (with --set")
    assert "Traceback" not in run.err and run.out == ""
    assert not (tmp_path / "models").exists()


def test_a_min_df_that_prunes_every_term_fails_at_training_in_one_line(tmp_path: Path) -> None:
    run = run_cli("train", "--set", "features.min_df=1000000", "--set", "use_authored=false",
                  "--models", tmp_path / "models")
    assert run.code == 1 and len(run.err_lines) == 1, run.describe()
    assert "cannot be fitted with these settings" in run.err and "Traceback" not in run.err
    assert not (tmp_path / "models").exists()
