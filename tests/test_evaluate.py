"""Nested leave-one-article-out evaluation on the real labels, and the reports written from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from karabakh_tagger import evaluate, report, train
from karabakh_tagger.config import Config
from karabakh_tagger.labels import STANCES, TASKS, TOPICS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCORE_KEYS = {"macro_f1", "accuracy"}


@pytest.fixture(scope="module")
def evaluated(dataset: Any, tiny_config: Config) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """One full evaluation (nested CV, baselines, random split, learning curve) with the tiny grid."""
    warnings: list[str] = []
    metrics, runs = evaluate.evaluate(dataset, tiny_config, warn=warnings.append)
    return metrics, runs, warnings


@pytest.fixture(scope="module")
def metrics(evaluated: Any) -> dict[str, Any]:
    return evaluated[0]


@pytest.fixture(scope="module")
def reports(metrics: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("reports")
    return out, report.write_reports(metrics, out)


def test_top_level_shape(metrics: dict[str, Any]) -> None:
    assert metrics["cv"] == "leave-one-article-out"
    assert metrics["rows"] == 109
    assert metrics["authored_training_rows"] == 0
    assert {"topic", "stance"} <= set(metrics)


@pytest.mark.parametrize("task", list(TASKS))
def test_task_shape(task: str, metrics: dict[str, Any]) -> None:
    result = metrics[task]
    assert {"macro_f1", "accuracy", "per_class", "folds", "baselines", "random_split"} <= set(result)
    for key in SCORE_KEYS:
        assert 0.0 <= result[key] <= 1.0
    assert set(result["baselines"]) == {"most_frequent", "stratified"}
    for baseline in result["baselines"].values():
        assert set(baseline) >= SCORE_KEYS
        assert all(0.0 <= baseline[k] <= 1.0 for k in SCORE_KEYS)
    assert set(result["random_split"]) >= SCORE_KEYS
    assert len(result["random_split"]["folds"]) == 5
    assert ("f_avg" in result) == (task == "stance")
    for baseline in result["baselines"].values():
        assert ("f_avg" in baseline) == (task == "stance")


@pytest.mark.parametrize(("task", "names"), [("topic", TOPICS), ("stance", STANCES)])
def test_per_class_covers_every_label(task: str, names: tuple[str, ...], metrics: dict[str, Any],
                                      dataset: Any) -> None:
    per_class = metrics[task]["per_class"]
    assert list(per_class) == list(names)
    assert sum(v["support"] for v in per_class.values()) == 109
    gold = [dataset.features[task].int2str(i) for i in dataset[task]]
    assert {n: v["support"] for n, v in per_class.items()} == {n: gold.count(n) for n in names}
    for values in per_class.values():
        assert {"precision", "recall", "f1", "support"} <= set(values)


@pytest.mark.parametrize("task", list(TASKS))
def test_folds_are_the_five_articles(task: str, metrics: dict[str, Any], dataset: Any) -> None:
    folds = metrics[task]["folds"]
    articles = sorted(set(dataset["article"]))
    assert [f["held_out"] for f in folds] == articles
    assert sum(f["n_test"] for f in folds) == 109
    splits = train.article_splits(dataset["article"], dataset["group"])
    for fold, (train_idx, test_idx) in zip(folds, splits, strict=True):
        assert fold["n_test"] == len(test_idx) == list(dataset["article"]).count(fold["held_out"])
        assert fold["n_train"] == len(train_idx)  # copies of test sentences were dropped
        assert fold["params"]["clf__C"] in (1.0, 10.0)


@pytest.mark.parametrize("task", list(TASKS))
def test_every_corpus_row_is_predicted_once_out_of_fold(task: str, evaluated: Any, dataset: Any) -> None:
    _, runs, _ = evaluated
    run = runs[task]
    assert sorted(run.rows) == list(range(len(dataset)))
    assert run.y_true == [dataset[task][r] for r in run.rows]
    proba = np.array(run.proba)
    assert proba.shape == (109, len(TASKS[task]))
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("task", list(TASKS))
def test_model_beats_the_most_frequent_baseline(task: str, metrics: dict[str, Any]) -> None:
    assert metrics[task]["macro_f1"] > metrics[task]["baselines"]["most_frequent"]["macro_f1"]


def test_most_frequent_baseline_predicts_one_class(dataset: Any, tiny_config: Config) -> None:
    data = evaluate.as_arrays(dataset)
    splits = train.article_splits(data["article"], data["group"])
    run = evaluate.dummy_cv("stance", data, splits, "most_frequent", tiny_config.seed, 3)
    for (train_idx, _), fold in zip(splits, run.folds, strict=True):
        assert fold["n_train"] == len(train_idx)
    assert set(run.y_pred) == {STANCES.index("neutral")}  # the majority stance in every fold


def test_f_avg_is_the_mean_of_supportive_and_critical_f1(metrics: dict[str, Any]) -> None:
    stance = metrics["stance"]
    per = stance["per_class"]
    assert stance["f_avg"] == pytest.approx((per["supportive"]["f1"] + per["critical"]["f1"]) / 2, abs=1e-4)
    assert evaluate.f_avg({"per_class": {"supportive": {"f1": 0.5}, "critical": {"f1": 0.25},
                                         "neutral": {"f1": 1.0}}}) == 0.375


def test_pooled_macro_f1_matches_sklearn(evaluated: Any) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    metrics, runs, _ = evaluated
    for task, run in runs.items():
        present = sorted(set(run.y_true))
        expected = f1_score(run.y_true, run.y_pred, labels=present, average="macro", zero_division=0)
        assert metrics[task]["macro_f1"] == pytest.approx(expected, abs=1e-4)
        assert metrics[task]["accuracy"] == pytest.approx(accuracy_score(run.y_true, run.y_pred), abs=1e-4)


def test_small_classes_warn_instead_of_crashing(evaluated: Any) -> None:
    _, _, warnings = evaluated
    assert warnings, "expected warnings about classes with almost no training rows"
    assert all(w.startswith("warning: ") for w in warnings)
    refugees = [w for w in warnings if "'refugees_humanitarian'" in w]
    # the only refugees_humanitarian row is in article 002: its fold trains on none
    assert refugees == ["warning: topic: fold 002_c6052be6c11b6493: class 'refugees_humanitarian' has 0 "
                        "training row(s); its held-out rows can hardly be predicted"]
    assert any("'domestic_politics'" in w and "003_f3ac13cd7658a600" in w for w in warnings)


def test_warn_small_is_silent_when_classes_are_well_trained() -> None:
    messages: list[str] = []
    y = np.array([0, 0, 1, 1, 0, 1])
    evaluate._warn_small("stance", list(STANCES), y, np.array([0, 1, 2, 3]), np.array([4, 5]), "x",
                         messages.append)
    assert messages == []
    evaluate._warn_small("stance", list(STANCES), y, np.array([0, 1, 2]), np.array([4, 5]), "x",
                         messages.append)
    assert messages == ["warning: stance: fold x: class 'critical' has 1 training row(s); its held-out "
                        "rows can hardly be predicted"]


# ---- reports -----------------------------------------------------------------------------------

def test_write_reports_writes_every_file(reports: tuple[Path, list[Path]], metrics: dict[str, Any]) -> None:
    out, written = reports
    names = {"metrics.json", "report.md", "confusion_topic.png", "confusion_stance.png",
             "learning_curve.png", "reliability.png"}
    assert {p.name for p in written} == names
    assert {p.name for p in out.iterdir()} == names  # and nothing else (no temp files)
    for name in names:
        if name.endswith(".png"):
            data = (out / name).read_bytes()
            assert data.startswith(PNG_MAGIC), name
            assert len(data) > 1000, name
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8")) == json.loads(json.dumps(metrics))


def test_report_mentions_baselines_and_random_split(reports: tuple[Path, list[Path]],
                                                    metrics: dict[str, Any]) -> None:
    out, _ = reports
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "dummy: most frequent" in text
    assert "dummy: stratified" in text
    assert "random" in text.lower()
    for task in TASKS:
        r = metrics[task]
        assert f"## {task}" in text
        assert f"| {r['macro_f1']:.3f} |" in text
        assert f"| model, shuffled random 5-fold (leaky) | {r['random_split']['macro_f1']:.3f} |" in text
        for name, baseline in r["baselines"].items():
            label = name.replace("_", " ")
            row = next(line for line in text.splitlines() if line.startswith(f"| dummy: {label} |")
                       and f"{baseline['macro_f1']:.3f}" in line)
            assert f"{baseline['accuracy']:.3f}" in row
        for fold in r["folds"]:
            assert f"| {fold['held_out']} |" in text
    assert f"{metrics['stance']['f_avg']:.3f}" in text
    for png in ("confusion_topic.png", "confusion_stance.png", "learning_curve.png", "reliability.png"):
        assert f"({png})" in text
