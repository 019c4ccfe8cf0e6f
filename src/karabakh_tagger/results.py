"""The evaluation's numbers as typed records: written once by ``evaluate``, rendered by the report,
the model card, the CLI summary and the README, read back from ``reports/metrics.json`` with every
key checked (``load_metrics``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karabakh_tagger.errors import InputError
from karabakh_tagger.typed import build


@dataclass(frozen=True)
class ClassScores:
    """Per-class scores of pooled out-of-fold predictions."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Fold:
    """One held-out article or batch."""

    held_out: str
    n_train: int
    n_test: int
    macro_f1: float
    accuracy: float
    params: dict[str, Any]


@dataclass(frozen=True)
class Brief:
    """The headline scores of one method on one protocol."""

    macro_f1: float
    accuracy: float
    f_avg: float | None


@dataclass(frozen=True)
class Scores:
    """Pooled out-of-fold scores of one method over the folds of one protocol."""

    macro_f1: float
    accuracy: float
    f_avg: float | None
    per_class: dict[str, ClassScores]
    folds: tuple[Fold, ...]
    folds_mean: float
    folds_std: float
    confusion: tuple[tuple[int, ...], ...]

    def brief(self) -> Brief:
        """The headline part."""
        return Brief(self.macro_f1, self.accuracy, self.f_avg)


@dataclass(frozen=True)
class CurvePoint:
    """Scores with a given number of composed rows in training (default hyperparameters)."""

    composed_rows: int
    loao_macro_f1: float
    lobo_macro_f1: float | None


@dataclass(frozen=True)
class CalibrationBin:
    """Top-class confidence against accuracy, for the units in one confidence bin."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class Calibration:
    """Multiclass Brier score and reliability bins of the nested leave-one-article-out run."""

    brier: float
    bins: tuple[CalibrationBin, ...]


@dataclass(frozen=True)
class TaskResult:
    """Every number the report gives for one task of one model family."""

    loao: Scores
    lobo: Scores | None
    baselines: dict[str, dict[str, Brief]]
    random_split: Brief | None
    learning_curve: tuple[CurvePoint, ...]
    calibration: Calibration
    top_features: dict[str, tuple[str, ...]]
    small_classes: tuple[str, ...]


@dataclass(frozen=True)
class FamilyResult:
    """The evaluation of one model family."""

    family: str
    description: str
    tasks: dict[str, TaskResult]
    seconds: float
    sentences_per_second: float


@dataclass(frozen=True)
class Kappa:
    """Agreement of the first and the blind second labels on one set of rows."""

    rows: int
    topic: float
    stance: float


@dataclass(frozen=True)
class BatchSummary:
    """One batch of composed sentences: its size, label counts, frame distance and agreement."""

    rows: int
    cells: dict[str, dict[str, int]]
    nearest_cosine_median: float
    nearest_cosine_p90: float
    nearest_cosine_max: float
    kappa: Kappa | None


@dataclass(frozen=True)
class DataSummary:
    """What the evaluation was run on."""

    corpus_units: int
    articles: tuple[str, ...]
    composed_rows: int
    batches: dict[str, BatchSummary]
    kappa_all: Kappa | None


@dataclass(frozen=True)
class RuleRow:
    """What the family rule read for one family and task, and its score."""

    loao_macro_f1: float
    lobo_macro_f1: float | None
    rule_score: float
    sentences_per_second: float


@dataclass(frozen=True)
class Metrics:
    """``reports/metrics.json``."""

    created: str
    config: dict[str, Any]
    data: DataSummary
    families: dict[str, FamilyResult]
    rule: dict[str, dict[str, RuleRow]]
    winners: dict[str, str]
    recommended: str


def load_metrics(path: Path) -> Metrics:
    """``reports/metrics.json`` as typed records, or one line saying what is wrong with it."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: missing; run make eval") from None
    except (OSError, ValueError):
        raise InputError(f"{path}: not valid JSON; run make eval") from None
    return build(Metrics, data, str(path))
