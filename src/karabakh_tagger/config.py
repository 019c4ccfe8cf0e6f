"""Hyperparameters: ``configs/baseline.yaml`` plus ``--set key=value`` overrides, loaded once into
frozen, typed dataclasses.

Every key is required: the base file is the one source of truth for every value (the dataclasses
have no defaults), and a variant is the base file with overrides (``karabakh-tagger train --set
features.kind=char``, ``make train SET='features.kind=char'``), never a near-copy of it.

Each setting lives in one place. The search grid names the settings it varies by their own config
keys (``classifier.C: [1.0, 10.0, 100.0]``); the setting itself holds the value used wherever no
search runs. Every value, in the settings and in the grid, is checked at load time, with its type
and its range: an unknown key, a wrong type, NaN, an empty list or an impossible range is one
:class:`InputError` naming the file and the key. Nothing here imports scikit-learn; ``model``
turns a config into pipelines.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from karabakh_tagger.errors import InputError
from karabakh_tagger.typed import build, convert, describe, matches, to_data

FeatureKind = Literal["word", "char", "union"]
SEARCHABLE = ("classifier.C", "classifier.class_weight", "classifier.max_iter")
"""Settings the grid may vary: the classifier's. Feature settings are variants (``--set``): the
search fits the features once per inner training fold and varies the classifier on them."""


@dataclass(frozen=True)
class FeaturesConfig:
    """TF-IDF settings of the baseline family."""

    kind: FeatureKind
    word_ngram_range: tuple[int, int]
    char_ngram_range: tuple[int, int]
    sublinear_tf: bool
    min_df: int | float
    max_df: float
    lowercase: bool
    strip_accents: Literal["unicode", "ascii"] | None


@dataclass(frozen=True)
class ClassifierConfig:
    """Logistic-regression settings (multinomial; liblinear would be one-vs-rest and is not offered)."""

    C: float
    class_weight: Literal["balanced"] | None
    solver: Literal["newton-cg", "lbfgs", "saga"]
    max_iter: int


@dataclass(frozen=True)
class SearchConfig:
    """The grid searched inside the training folds, and the tie tolerance of the selection rule."""

    tie_tolerance: float
    grid: dict[str, list[Any]]


@dataclass(frozen=True)
class EvaluationConfig:
    """Evaluation settings that are not hyperparameters of the model."""

    random_split_folds: int
    learning_curve_rows: tuple[int, ...]


@dataclass(frozen=True)
class EncoderConfig:
    """The encoder family (all-MiniLM-L6-v2 + a logistic-regression head per task, run by onnxruntime).

    Its heads take the ``classifier`` settings and the ``search`` grid, like the baseline's.
    """

    train: bool
    max_length: int
    batch_size: int
    quantize: bool
    min_agreement: float


@dataclass(frozen=True)
class FinetuneConfig:
    """The fine-tuned family (``make finetune``): fixed hyperparameters, no search."""

    epochs: int
    learning_rate: float
    head_learning_rate: float
    batch_size: int
    max_length: int
    weight_decay: float


@dataclass(frozen=True)
class Config:
    """One training configuration: what ``make train`` trains and evaluates."""

    seed: int
    use_authored: bool
    features: FeaturesConfig
    classifier: ClassifierConfig
    encoder: EncoderConfig
    finetune: FinetuneConfig
    search: SearchConfig
    evaluation: EvaluationConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view, for the manifest and the reports."""
        return to_data(self)

    def value(self, key: str) -> Any:
        """The value of a dotted key such as ``classifier.C``."""
        node: Any = self
        for part in key.split("."):
            node = getattr(node, part)
        return node

    def with_value(self, key: str, value: Any) -> Config:
        """A copy with one dotted setting replaced (the grid's points are such copies)."""
        section, _, name = key.partition(".")
        if not name:
            return dataclasses.replace(self, **{section: value})
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section),
                                                                          **{name: value})})


@dataclass(frozen=True)
class LoadedConfig:
    """A config with where it came from: the file, its sha256, the overrides and the values' hash."""

    config: Config
    file: str
    file_sha256: str
    overrides: tuple[str, ...]
    values_sha256: str


def _hint(key: str) -> Any:
    section, _, name = key.partition(".")
    cls = typing.get_type_hints(Config)[section]
    return typing.get_type_hints(cls)[name] if name else cls


def _ranges(config: Config) -> list[tuple[str, str]]:
    """(key, problem) for every value outside its range; types were checked by ``typed.build``."""
    f, c, e = config.features, config.classifier, config.evaluation
    problems = []
    for key in ("features.word_ngram_range", "features.char_ngram_range"):
        low, high = config.value(key)
        if not 1 <= low <= high <= 10:
            problems.append((key, f"must be [low, high] with 1 <= low <= high <= 10, got [{low}, {high}]"))
    if isinstance(f.min_df, float) and not 0 < f.min_df <= 1:
        problems.append(("features.min_df", f"as a fraction must lie in (0, 1], got {f.min_df}"))
    if isinstance(f.min_df, int) and f.min_df < 1:
        problems.append(("features.min_df", f"as a count must be at least 1, got {f.min_df}"))
    if not 0 < f.max_df <= 1:
        problems.append(("features.max_df", f"must lie in (0, 1], got {f.max_df}"))
    if isinstance(f.min_df, float) and f.min_df > f.max_df:
        problems.append(("features.min_df", f"{f.min_df} is above features.max_df {f.max_df}"))
    if c.C <= 0:
        problems.append(("classifier.C", f"must be positive, got {c.C}"))
    if c.max_iter < 1:
        problems.append(("classifier.max_iter", f"must be at least 1, got {c.max_iter}"))
    enc = config.encoder
    if not 8 <= enc.max_length <= 512:
        problems.append(("encoder.max_length", f"must lie in [8, 512] tokens, got {enc.max_length}"))
    if not 1 <= enc.batch_size <= 1024:
        problems.append(("encoder.batch_size", f"must lie in [1, 1024], got {enc.batch_size}"))
    if not 0.5 <= enc.min_agreement <= 1:
        problems.append(("encoder.min_agreement", f"must lie in [0.5, 1], got {enc.min_agreement}"))
    ft = config.finetune
    if not 1 <= ft.epochs <= 20:
        problems.append(("finetune.epochs", f"must lie in [1, 20], got {ft.epochs}"))
    for key in ("learning_rate", "head_learning_rate"):
        if not 0 < getattr(ft, key) < 1:
            problems.append((f"finetune.{key}", f"must lie in (0, 1), got {getattr(ft, key)}"))
    if not 1 <= ft.batch_size <= 512 or not 8 <= ft.max_length <= 512:
        problems.append(("finetune.batch_size", "batch_size must lie in [1, 512] and max_length in [8, 512]"))
    if not 0 <= ft.weight_decay < 1:
        problems.append(("finetune.weight_decay", f"must lie in [0, 1), got {ft.weight_decay}"))
    if config.seed < 0:
        problems.append(("seed", f"must be 0 or more, got {config.seed}"))
    if not 0 <= config.search.tie_tolerance <= 0.1:
        problems.append(("search.tie_tolerance", f"must lie in [0, 0.1], got {config.search.tie_tolerance}"))
    if e.random_split_folds < 2:
        problems.append(("evaluation.random_split_folds", f"must be at least 2, got {e.random_split_folds}"))
    if any(n < 0 for n in e.learning_curve_rows) or list(e.learning_curve_rows) != sorted(
            set(e.learning_curve_rows)):
        problems.append(("evaluation.learning_curve_rows", "must be distinct counts >= 0 in rising order"))
    return problems


def _check(config: Config, source: str) -> None:
    """Range checks of the settings and of every grid value (each point is a config of its own)."""
    for key, problem in _ranges(config):
        raise InputError(f"{source}: key {key!r} {problem}")
    for key, values in config.search.grid.items():
        where = f"search.grid.{key}"
        if key not in SEARCHABLE:
            hint = (" (feature settings are variants: --set features.kind=char)"
                    if key.startswith("features.") else "")
            raise InputError(f"{source}: unknown key {where!r}: the grid varies config settings, one "
                             f"of {', '.join(SEARCHABLE)}{hint}")
        if not values:
            raise InputError(f"{source}: key {where!r} must list at least one value, got []")
        hint = _hint(key)
        for value in values:
            if not matches(value, hint):
                raise InputError(f"{source}: key {where!r}: {value!r} is not a {describe(hint)}")
            point = config.with_value(key, tuple(value) if isinstance(value, list) else value)
            for bad_key, problem in _ranges(point):
                if bad_key == key:
                    raise InputError(f"{source}: key {where!r}: {value!r} {problem.split(', got')[0]}")


def _apply_override(data: dict[str, Any], override: str) -> None:
    """Set one ``dotted.key=yaml value`` in the raw config mapping."""
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"--set {override!r}: expected KEY=VALUE, e.g. --set features.kind=char")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise InputError(f"--set {override!r}: the value is not valid YAML") from None
    node = data
    parts = key.split(".")
    if parts[:2] == ["search", "grid"] and len(parts) > 2:  # grid keys contain dots themselves
        parts = ["search", "grid", ".".join(parts[2:])]
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InputError(f"--set {override!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def load_config(path: Path, overrides: Sequence[str] = ()) -> LoadedConfig:
    """Read the YAML file, apply the overrides in order, check every key, type and range."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read config ({err.strerror})") from None
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the file must be a mapping of keys")
    for override in overrides:
        _apply_override(data, override)
    source = f"{path} (with --set {' '.join(overrides)})" if overrides else str(path)
    config = build(Config, data, source)
    _check(config, source)
    grid = {key: [convert(v, _hint(key), source, key) for v in values]
            for key, values in config.search.grid.items()}
    config = dataclasses.replace(config, search=dataclasses.replace(config.search, grid=grid))
    values = json.dumps(config.to_dict(), sort_keys=True)
    return LoadedConfig(config, str(path), hashlib.sha256(raw).hexdigest(), tuple(overrides),
                        hashlib.sha256(values.encode("utf-8")).hexdigest())
