"""Evaluation: metric values, the baseline's encoding, model beside baseline, plots."""

from __future__ import annotations

import numpy as np
import pytest

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.model.metrics import task_metrics, tune_threshold
from ml_lifecycle.pipelines.evaluation.nodes import (
    _baseline_matrix,
    evaluate_baseline,
    evaluate_model,
    plot_evaluation,
    report_metrics,
)

EVALUATION = {
    "threshold": "tuned",
    "max_predicted_share": 0.99,
    "slices": ["region", "cat"],
    "min_slice_rows": 30,
    "max_rows": None,
    "baseline": {
        "max_iter": 300,
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "l2_regularization": 0.0,
        "n_iter_no_change": 20,
        "max_train_rows": None,
        "seed": 1,
    },
}


def test_binary_metrics_have_the_known_values():
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.6, 0.4, 0.9])
    m = task_metrics("binary", y, score, threshold=0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert (m["accuracy"], m["precision"], m["recall"]) == (0.5, 0.5, 0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))
    assert tune_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.8])) == 0.7


def test_multiclass_and_regression_metrics():
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    m = task_metrics("multiclass", np.array([0, 1, 2, 2]), proba, class_names=["a", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["per_class"]["c"]["recall"] == 0.5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    r = task_metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert r["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert r["mae"] == pytest.approx(2 / 3)
    assert r["r2"] == pytest.approx(1 - 4 / 2)


def test_baseline_encodes_categories_with_the_spark_vocabulary():
    statistics = {
        "numeric": {"x": {}},
        "categorical": {
            "c": {"kind": "string", "vocabulary": ["b", "a"]},
            "h": {"kind": "integer", "vocabulary": [7, 3]},
        },
    }
    spec = {"x": "float32", "c": "string", "h": "int64"}
    columns = {
        "x": np.array([[1.5], [np.nan], [2.0]], dtype="float32"),
        "c": np.array([["a"], ["zzz"], [""]], dtype=object),
        "h": np.array([[3], [-1], [42]]),
    }
    matrix = _baseline_matrix(columns, statistics, spec)
    expected = [[1.5, 1.0, 1.0], [np.nan, 2.0, np.nan], [2.0, np.nan, 2.0]]
    np.testing.assert_array_equal(matrix, np.array(expected))  # unseen: own code, missing: NaN


@pytest.fixture(scope="module")
def evaluated(easy_shards, easy_trained):
    statistics, splits = easy_shards
    model, history = easy_trained
    model_eval = evaluate_model(model, splits["validation"], splits["test"], statistics, EVALUATION)
    baseline = evaluate_baseline(
        splits["train"], splits["validation"], splits["test"], statistics, EVALUATION
    )
    return statistics, splits, history, model_eval, baseline


def test_model_and_baseline_are_scored_on_the_same_test_rows(evaluated):
    statistics, splits, _, model_eval, baseline = evaluated
    report = report_metrics(model_eval, baseline)
    test_rows = splits["test"].count_rows()
    assert report["model"]["rows"] == report["baseline"]["rows"] == test_rows
    assert report["model"]["roc_auc"] > 0.9 and report["baseline"]["roc_auc"] > 0.9
    assert report["baseline"]["fit"]["categorical_features"] == ["cat", "hour"]
    slices = report["slices"]["model"]
    assert set(slices) == {"region", "cat"}
    assert set(slices["region"]) == {"east", "west"}
    assert sum(m["rows"] for m in slices["region"].values()) == test_rows
    assert 0 < report["model"]["threshold"] < 1  # tuned on the validation split


def test_baseline_reports_the_iterations_it_ran_and_whether_it_stopped_early(evaluated, caplog):
    statistics, splits, _, model_eval, baseline = evaluated
    fit = report_metrics(model_eval, baseline)["baseline"]["fit"]
    # The easy problem stops well before 300 iterations on the validation split.
    assert fit["max_iter"] == 300 and 0 < fit["iterations"] < 300 and fit["stopped_early"]
    assert fit["train_rows"] == splits["train"].count_rows()
    assert fit["validation_rows"] == splits["validation"].count_rows()
    capped = {**EVALUATION, "baseline": {**EVALUATION["baseline"], "max_iter": 3}}
    with caplog.at_level("WARNING", logger="ml_lifecycle.pipelines.evaluation.nodes"):
        short = evaluate_baseline(
            splits["train"], splits["validation"], splits["test"], statistics, capped
        )
    assert short["fit"]["iterations"] == 3 and not short["fit"]["stopped_early"]
    assert "raise evaluation.baseline.max_iter" in caplog.text


def test_plots_are_drawn_for_the_task(evaluated):
    statistics, _, history, model_eval, baseline = evaluated
    figures = plot_evaluation(model_eval, baseline, history, statistics)
    assert set(figures) == {
        "training_curves.png",
        "confusion_matrix.png",
        "roc_curve.png",
        "pr_curve.png",
        "calibration.png",
    }
    roc = figures["roc_curve.png"].axes[0]
    assert [line.get_label() for line in roc.lines][:2] == ["model", "baseline"]
    matrix = np.array(model_eval["plot_data"]["confusion"])
    assert matrix.sum() == model_eval["metrics"]["rows"]


def test_unknown_slice_column_is_a_clear_error(evaluated):
    statistics, splits, _, _, _ = evaluated
    with pytest.raises(ConfigError, match="evaluation.slices"):
        evaluate_model(
            None,
            splits["validation"],
            splits["test"],
            statistics,
            {**EVALUATION, "slices": ["regoin"]},
        )
