"""Hyperparameters from ``configs/*.yaml``, loaded once into frozen, typed dataclasses.

Every key is checked: an unknown key or a value of the wrong type is an InputError naming the
key and the file, so a typo never silently falls back to a default. A key left out takes the
default shown in the dataclass (the same as configs/baseline.yaml).
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

FeatureKind = Literal["word", "char", "union", "minilm"]


@dataclass(frozen=True)
class FeaturesConfig:
    """TF-IDF settings (or the embedding model when ``kind`` is ``minilm``)."""

    kind: FeatureKind = "word"
    word_ngram_range: tuple[int, int] = (1, 2)
    char_ngram_range: tuple[int, int] = (2, 5)
    sublinear_tf: bool = True
    min_df: int = 1
    max_df: float = 1.0
    lowercase: bool = True
    strip_accents: Literal["unicode", "ascii"] | None = "unicode"


@dataclass(frozen=True)
class ClassifierConfig:
    """Logistic-regression settings."""

    C: float = 10.0
    class_weight: Literal["balanced"] | None = "balanced"
    solver: Literal["newton-cg", "lbfgs", "saga"] = "newton-cg"
    max_iter: int = 2000


@dataclass(frozen=True)
class SearchConfig:
    """The grid searched per task inside the training articles."""

    scoring: str = "f1_macro"
    grid: dict[str, dict[str, list[Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationConfig:
    """Evaluation settings that are not hyperparameters of the model."""

    random_split_folds: int = 5


@dataclass(frozen=True)
class Config:
    """One training configuration: what ``make train`` and ``make eval`` run."""

    seed: int = 13
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    use_authored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view, for the manifest and the reports."""
        return dataclasses.asdict(self)


def _matches(value: Any, hint: Any) -> bool:
    """True when a YAML value fits a type hint (enough of typing for this config)."""
    origin = get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in get_args(hint))
    if origin is Literal:
        return value in get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        args = get_args(hint)
        return (isinstance(value, list | tuple) and len(value) == len(args)
                and all(_matches(v, h) for v, h in zip(value, args, strict=True)))
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        return isinstance(value, dict) and all(
            _matches(k, key_hint) and _matches(v, value_hint) for k, v in value.items())
    if origin is list:
        return isinstance(value, list) and all(_matches(v, get_args(hint)[0]) for v in value)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    if isinstance(hint, type):  # a plain class: "int", not "<class 'int'>"
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "null")


def _build(cls: type, data: Any, source: str, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a mapping, checking every key and type."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: {prefix.rstrip('.') or 'the file'} must be a mapping of keys")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise InputError(f"{source}: unknown key {prefix + str(key)!r} (known keys: "
                             f"{', '.join(sorted(known))})")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, source, f"{prefix}{key}.")
            continue
        if not _matches(value, hint):
            raise InputError(f"{source}: key {prefix + key!r} must be {_describe(hint)}, "
                             f"got {value!r}")
        values[key] = tuple(value) if get_origin(hint) is tuple else value
        if hint is float:
            values[key] = float(value)
    return cls(**values)


def load_config(path: Path) -> Config:
    """Read and check a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read config ({err.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    config = _build(Config, data, str(path))
    for task in config.search.grid:
        if task not in TASKS:
            raise InputError(f"{path}: unknown key 'search.grid.{task}' (known keys: {', '.join(TASKS)})")
    return config


def config_hash(path: Path) -> str:
    """sha256 of the config file's bytes, recorded in the manifest."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
