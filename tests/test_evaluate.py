"""Nested evaluation on the real units and a small set of composed batches, and its typed results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from karabakh_tagger import evaluate
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import STANCES, TASKS, TOPICS
from karabakh_tagger.model import BASELINE
from karabakh_tagger.results import Metrics, load_metrics
from karabakh_tagger.splits import LeaveOneArticleOut, LeaveOneBatchOut
from karabakh_tagger.typed import to_data


@pytest.fixture(scope="module")
def evaluated(data: Any, tiny_config: Any) -> tuple[Any, dict[str, Any], list[str]]:
    warnings: list[str] = []
    result, runs = evaluate.evaluate_family(BASELINE, data, tiny_config.config, warnings.append,
                                            speed=1000.0, jobs=2)
    return result, runs, warnings


def test_both_protocols_score_what_they_hold_out(evaluated: Any, data: Any) -> None:
    result, runs, _ = evaluated
    corpus = set(np.flatnonzero(data.corpus).tolist())
    for task in TASKS:
        assert sorted(runs[task].loao.rows) == sorted(corpus)  # every real unit once, nothing else
        assert sorted(runs[task].lobo.rows) == sorted(set(range(len(data))) - corpus)
        r = result.tasks[task]
        assert [f.held_out for f in r.loao.folds] == sorted(set(data.articles.tolist()) - {""})
        assert [f.held_out for f in r.lobo.folds] == sorted(set(data.batches.tolist()) - {""})
        assert sum(f.n_test for f in r.loao.folds) == 109


@pytest.mark.parametrize("task", list(TASKS))
def test_pooled_scores_match_sklearn_on_the_out_of_fold_predictions(evaluated: Any, task: str,
                                                                     data: Any) -> None:
    result, runs, _ = evaluated
    run = runs[task].loao
    assert run.y_true == data.y[task][run.rows].tolist()
    present = sorted(set(run.y_true))
    scores = result.tasks[task].loao
    assert scores.macro_f1 == pytest.approx(f1_score(run.y_true, run.y_pred, labels=present,
                                                     average="macro"), abs=1e-4)
    assert scores.accuracy == pytest.approx(accuracy_score(run.y_true, run.y_pred), abs=1e-4)
    proba = np.array(run.proba)
    assert proba.shape == (109, len(TASKS[task])) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(scores.per_class) == list(TASKS[task])
    assert sum(c.support for c in scores.per_class.values()) == 109


def test_the_folds_chose_from_the_grid_inside_their_training_rows(evaluated: Any, data: Any) -> None:
    result, _, _ = evaluated
    splits = list(LeaveOneArticleOut().split(data.texts, None, data.groups()))
    for task in TASKS:
        for fold, (train, test) in zip(result.tasks[task].loao.folds, splits, strict=True):
            assert (fold.n_train, fold.n_test) == (len(train), len(test))
            assert fold.params["classifier.C"] in (1.0, 10.0)
    lobo = list(LeaveOneBatchOut().split(data.texts, None, data.groups()))
    assert [f.n_test for f in result.tasks["topic"].lobo.folds] == [len(t) for _, t in lobo]


def test_the_model_clears_the_dummies_by_a_margin(evaluated: Any) -> None:
    result, _, _ = evaluated
    for task in TASKS:
        r = result.tasks[task]
        for key, scores in (("loao", r.loao), ("lobo", r.lobo)):
            best = max(b.macro_f1 for b in r.baselines[key].values())
            assert scores.macro_f1 > best + 0.1, (task, key, scores.macro_f1, best)


def test_the_most_frequent_dummy_predicts_one_class(data: Any, tiny_config: Any) -> None:
    run = evaluate.out_of_fold(evaluate.dummy("stance", data, "most_frequent", 13), np.zeros(len(data)),
                               data, "stance", LeaveOneArticleOut())
    assert len(set(run.y_pred)) == 1


def test_f_avg_is_the_mean_of_supportive_and_critical_f1(evaluated: Any) -> None:
    result, _, _ = evaluated
    stance = result.tasks["stance"].loao
    per = stance.per_class
    assert stance.f_avg == pytest.approx((per["supportive"].f1 + per["critical"].f1) / 2, abs=1e-4)
    assert result.tasks["topic"].loao.f_avg is None


def test_the_learning_curve_ends_with_all_composed_rows(evaluated: Any, data: Any) -> None:
    result, _, _ = evaluated
    composed = int((~data.corpus).sum())
    for task in TASKS:
        curve = result.tasks[task].learning_curve
        assert [p.composed_rows for p in curve] == [0, 40, composed]
        assert all(0 <= p.loao_macro_f1 <= 1 and p.lobo_macro_f1 is not None for p in curve)
    # 0 composed rows is the five seed articles alone: their stance cues are France's, the batches'
    # are not, so the composed rows must help leave-one-batch-out.
    topic = result.tasks["topic"].learning_curve
    assert topic[-1].lobo_macro_f1 > topic[0].lobo_macro_f1


def test_the_leaky_random_split_keeps_composed_rows_in_training(data: Any, tiny_config: Any) -> None:
    leaky = evaluate.shuffled(data, tiny_config.config)
    folds = LeaveOneArticleOut().folds(leaky.groups())
    assert [name for _, name in folds] == ["random fold 1", "random fold 2"]
    assert len(set(leaky.copies.tolist())) == len(data)  # every row its own group: copies leak
    assert (leaky.articles[~data.corpus] == "").all()


def test_jobs_do_not_change_the_numbers(data: Any, tiny_config: Any) -> None:
    fit = evaluate.nested(BASELINE, "stance", BASELINE.features(data), data, tiny_config.config)
    x = BASELINE.features(data)
    one = evaluate.out_of_fold(fit, x, data, "stance", LeaveOneBatchOut(), jobs=1)
    two = evaluate.out_of_fold(fit, x, data, "stance", LeaveOneBatchOut(), jobs=2)
    assert one.rows == two.rows and np.array_equal(np.array(one.proba), np.array(two.proba))


def test_small_classes_warn_instead_of_crashing(corpus_data: Any, tiny_config: Any) -> None:
    messages: list[str] = []
    evaluate._warn_small("topic", corpus_data, LeaveOneArticleOut(), messages.append)
    assert ("warning: topic: fold 002_c6052be6c11b6493: class 'refugees_humanitarian' has 0 training "
            "row(s); its held-out rows can hardly be predicted") in messages
    assert all(m.startswith("warning: ") for m in messages)


def test_metrics_round_trip_through_json_with_every_key_checked(evaluated: Any, data: Any,
                                                                 tiny_config: Any, tmp_path: Any) -> None:
    import json

    result, _, _ = evaluated
    metrics = evaluate.metrics({"baseline": result}, tiny_config.config, data, {})
    assert isinstance(metrics, Metrics) and metrics.recommended == "baseline"
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(to_data(metrics)), encoding="utf-8")
    assert load_metrics(path) == metrics
    broken = to_data(metrics)
    broken["families"]["baseline"]["tasks"]["topic"]["loao"]["macro_f1"] = "high"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(InputError, match=r"families\.baseline\.tasks\.topic\.loao\.macro_f1"):
        load_metrics(path)


def test_data_summary_counts_cells_and_kappa(data: Any) -> None:
    batch = sorted(set(data.batches.tolist()) - {""})[0]
    rows = np.flatnonzero(data.batches == batch)
    names = {"topic": TOPICS, "stance": STANCES}
    second = {batch: [{"id": data.ids[i], "first_topic": names["topic"][data.y["topic"][i]],
                       "first_stance": names["stance"][data.y["stance"][i]],
                       "second_topic": names["topic"][data.y["topic"][i]], "second_stance": "neutral"}
                      for i in rows]}
    summary = evaluate.data_summary(data, second)
    b = summary.batches[batch]
    assert b.rows == len(rows) == sum(sum(c.values()) for c in b.cells.values())
    assert b.kappa.topic == 1.0 and b.kappa.stance < 1.0
    assert 0 < b.nearest_cosine_median <= b.nearest_cosine_max < 0.8
    assert summary.corpus_units == 109
