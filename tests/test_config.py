"""configs/*.yaml into frozen dataclasses: every key checked, every mistake a one-line InputError."""

from __future__ import annotations

import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from karabakh_tagger.config import (
    ClassifierConfig,
    Config,
    FeaturesConfig,
    config_hash,
    load_config,
)
from karabakh_tagger.errors import InputError

from conftest import BASELINE_CONFIG, TINY_GRID_C


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _baseline_with(**changes: Any) -> str:
    """configs/baseline.yaml with some sections replaced or updated (as YAML text)."""
    data = yaml.safe_load(BASELINE_CONFIG.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def test_baseline_loads_into_a_typed_config() -> None:
    config = load_config(BASELINE_CONFIG)
    raw = yaml.safe_load(BASELINE_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(config, Config)
    assert isinstance(config.features, FeaturesConfig)
    assert isinstance(config.classifier, ClassifierConfig)
    assert config.seed == raw["seed"]
    assert config.features.kind == raw["features"]["kind"]
    assert config.features.word_ngram_range == tuple(raw["features"]["word_ngram_range"])
    assert isinstance(config.features.word_ngram_range, tuple)
    assert raw["classifier"]["C"] == config.classifier.C
    assert isinstance(config.classifier.C, float)
    assert config.search.grid == raw["search"]["grid"]
    assert config.evaluation.random_split_folds == raw["evaluation"]["random_split_folds"]
    assert config.use_authored is raw["use_authored"]


def test_config_is_frozen() -> None:
    config = load_config(BASELINE_CONFIG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.classifier.C = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.features.kind = "char"  # type: ignore[misc]


def test_to_dict_and_hash(tiny_config: Config, tiny_config_path: Path) -> None:
    data = tiny_config.to_dict()
    assert data["search"]["grid"]["topic"]["clf__C"] == TINY_GRID_C
    assert data["features"]["word_ngram_range"] == (1, 2)
    assert config_hash(tiny_config_path) == hashlib.sha256(tiny_config_path.read_bytes()).hexdigest()
    assert config_hash(tiny_config_path) != config_hash(BASELINE_CONFIG)


def test_int_is_accepted_for_a_float_and_stored_as_float(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "classifier:\n  C: 3\nfeatures:\n  max_df: 1\n", "ok.yaml"))
    assert config.classifier.C == 3.0 and isinstance(config.classifier.C, float)
    assert isinstance(config.features.max_df, float)


def test_null_is_accepted_where_allowed(tmp_path: Path) -> None:
    text = "features:\n  strip_accents: null\nclassifier:\n  class_weight: null\n"
    config = load_config(_write(tmp_path, text, "ok.yaml"))
    assert config.features.strip_accents is None
    assert config.classifier.class_weight is None


BAD_CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (yaml text, fragments the message must contain besides the file name)
    "unknown top-level key": ("sede: 13\n", ("unknown key 'sede'", "known keys:", "seed")),
    "unknown nested key": ("classifier:\n  Cc: 1.0\n", ("unknown key 'classifier.Cc'", "C, class_weight")),
    "unknown grid task": ("search:\n  grid:\n    topik:\n      clf__C: [1.0]\n",
                          ("unknown key 'search.grid.topik'",)),
    "string for a float": ('classifier:\n  C: "ten"\n', ("'classifier.C'", "float", "'ten'")),
    "bool for a float": ("classifier:\n  C: true\n", ("'classifier.C'", "float")),
    "string for an int": ('seed: "13"\n', ("'seed'", "int", "'13'")),
    "float for an int": ("classifier:\n  max_iter: 20.5\n", ("'classifier.max_iter'", "int")),
    "short range": ("features:\n  word_ngram_range: [1]\n", ("'features.word_ngram_range'", "[1]")),
    "range of strings": ('features:\n  char_ngram_range: ["2", "5"]\n', ("'features.char_ngram_range'",)),
    "unknown literal": ("features:\n  kind: words\n", ("'features.kind'", "word", "'words'")),
    "near-miss literal": ("classifier:\n  class_weight: balance\n",
                          ("'classifier.class_weight'", "balanced")),
    "string for a bool": ('features:\n  sublinear_tf: "yes"\n', ("'features.sublinear_tf'",)),
    "grid values not a list": ("search:\n  grid:\n    topic:\n      clf__C: 1.0\n", ("'search.grid'",)),
    "section not a mapping": ("classifier: 3\n", ("classifier must be a mapping",)),
    "file not a mapping": ("- a\n- b\n", ("must be a mapping",)),
    "invalid YAML": ("features: [1, 2\n", ("not valid YAML",)),
    "tab indentation": ("seed: 13\n\tfoo: 1\n", ("not valid YAML",)),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_config_is_an_input_error_naming_key_and_file(name: str, tmp_path: Path) -> None:
    text, fragments = BAD_CONFIGS[name]
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_mistakes_inside_a_full_config_are_found(tmp_path: Path) -> None:
    """A single typo in an otherwise valid copy of the baseline fails; the untouched copy loads."""
    assert load_config(_write(tmp_path, _baseline_with(), "copy.yaml")) == load_config(BASELINE_CONFIG)
    path = _write(tmp_path, _baseline_with(classifier={"Cc": 10.0}))
    with pytest.raises(InputError, match=r"unknown key 'classifier\.Cc'"):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


CLI_CASES = {
    "unknown key": ("classifier:\n  Cc: 1.0\n", "unknown key 'classifier.Cc'"),
    "mistyped value": ('classifier:\n  C: "ten"\n', "'classifier.C'"),
    "invalid YAML": ("features: [1, 2\n", "not valid YAML"),
    "unknown grid parameter": ("search:\n  grid:\n    topic:\n      clf__CC: [1.0]\n",
                               "search.grid.topic.clf__CC"),
}


@pytest.fixture(scope="module")
def cli_train_runs(tmp_path_factory: pytest.TempPathFactory, run_cli: Any) -> dict[str, Any]:
    """``karabakh-tagger train --config BAD --models DIR`` for each case, run concurrently."""
    base = tmp_path_factory.mktemp("bad_configs")
    jobs = {}
    for number, (name, (text, _)) in enumerate(CLI_CASES.items()):
        config = _write(base, text, f"bad{number}.yaml")
        jobs[name] = (config, base / f"models{number}")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_cli, "train", "--config", config, "--models", models)
                   for name, (config, models) in jobs.items()}
        return {name: (*jobs[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_train_with_a_bad_config_fails_in_one_line(name: str, cli_train_runs: dict[str, Any]) -> None:
    config, models, run = cli_train_runs[name]
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"error: {config}: ")
    assert CLI_CASES[name][1] in lines[0]
    assert run.stdout == ""
    assert not models.exists()  # nothing was written
