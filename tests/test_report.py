"""The report and its plots, rendered from small typed results built by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from karabakh_tagger.report import headline, render_markdown, write_reports
from karabakh_tagger.results import (
    BatchSummary,
    Brief,
    Calibration,
    CalibrationBin,
    ClassScores,
    CurvePoint,
    DataSummary,
    FamilyResult,
    Fold,
    Kappa,
    Metrics,
    RuleRow,
    Scores,
    TaskResult,
)
from karabakh_tagger.typed import to_data

PNG = b"\x89PNG\r\n\x1a\n"


def _scores(f1: float, names: tuple[str, ...], f_avg: float | None) -> Scores:
    per = {n: ClassScores(0.5, 0.5, 0.5, 3) for n in names}
    folds = (Fold("000_a", 90, 10, f1 - 0.05, 0.7, {"classifier.C": 10.0}),
             Fold("001_b", 95, 5, f1 + 0.05, 0.8, {"classifier.C": 1.0}))
    return Scores(f1, 0.75, f_avg, per, folds, f1, 0.05,
                  tuple(tuple(3 if i == j else 0 for j in range(len(names))) for i in range(len(names))))


def _task(f1: float, names: tuple[str, ...], stance: bool) -> TaskResult:
    f_avg = 0.321 if stance else None
    return TaskResult(
        loao=_scores(f1, names, f_avg), lobo=_scores(f1 + 0.2, names, f_avg),
        baselines={k: {"most_frequent": Brief(0.111, 0.5, None), "stratified": Brief(0.222, 0.4, None)}
                   for k in ("loao", "lobo")},
        random_split=Brief(0.777, 0.9, None),
        learning_curve=(CurvePoint(0, 0.3, 0.2), CurvePoint(100, 0.4, 0.6)),
        calibration=Calibration(0.5, (CalibrationBin(0.4, 0.6, 7, 0.55, 0.5),)),
        top_features={names[0]: ("lachin", "corridor")}, small_classes=(names[1],))


@pytest.fixture
def metrics() -> Metrics:
    topics, stances = ("ceasefire_terms", "other"), ("supportive", "critical", "neutral")
    result = FamilyResult("baseline", "word TF-IDF", {"topic": _task(0.456, topics, False),
                                                      "stance": _task(0.567, stances, True)}, 12.0, 15000.0)
    batch = BatchSummary(40, {"other": {"neutral": 40}}, 0.11, 0.2, 0.31, Kappa(40, 0.91, 0.82))
    data = DataSummary(109, ("000_a", "001_b"), 40, {"b01-wire": batch}, Kappa(40, 0.91, 0.82))
    rule = {"baseline": {t: RuleRow(0.4, 0.6, 0.5, 15000.0) for t in ("topic", "stance")}}
    return Metrics("2026-12-01T00:00:00+00:00", {}, data, {"baseline": result}, rule,
                   {"topic": "baseline", "stance": "baseline"}, "baseline")


def test_the_report_shows_every_protocol_with_its_dummies(metrics: Metrics) -> None:
    text = render_markdown(metrics)
    assert text.startswith("# Evaluation report")
    assert "| **model** | 0.456 | 0.750 |" in text and "| **model** | 0.567 | 0.750 | 0.321 |" in text
    assert "| **model** | 0.656 | 0.750 |" in text  # leave-one-batch-out, topic
    assert text.count("| dummy: most frequent | 0.111 |") == 4
    assert "| model, shuffled random split (leaky) | 0.777 |" in text
    assert "| 000_a | 90 | 10 | 0.406 | 0.700 | classifier.C=10.0 |" in text
    assert "- **ceasefire_terms**: lachin, corridor" in text
    assert "| b01-wire | 40 | 0.11 / 0.20 / 0.31 | 0.910 | 0.820 |" in text
    assert "then speed): **baseline**." in text
    assert "| baseline | topic | 100 | 0.400 | 0.600 |" in text
    assert "scores composed text, not news" in text
    assert "10 real units (critical, other)" in text  # the small classes are named


def test_headline_is_one_sentence_per_family(metrics: Metrics) -> None:
    assert headline(metrics.families["baseline"]) == (
        "topic macro-F1 0.456 leave-one-article-out (best dummy 0.222), leave-one-batch-out 0.656; "
        "stance macro-F1 0.567 leave-one-article-out (best dummy 0.222), leave-one-batch-out 0.767")


def test_write_reports_writes_json_markdown_and_real_plots(metrics: Metrics, tmp_path: Path) -> None:
    written = write_reports(metrics, tmp_path)
    names = {"metrics.json", "report.md", "confusion_baseline_topic.png", "confusion_baseline_stance.png",
             "learning_curve.png", "reliability.png"}
    assert {p.name for p in written} == names == {p.name for p in tmp_path.iterdir()}
    for name in names - {"metrics.json", "report.md"}:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 2000, name
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8")) == to_data(metrics)
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    for png in names - {"metrics.json", "report.md"}:
        assert f"({png})" in report
