"""Scoring with fake predictors on small Parquet splits: the threshold rule, multiclass curves."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from sklearn import metrics as skm

from ml_lifecycle.core.columns import LABEL
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.model.metrics import (
    MAX_CURVE_POINTS,
    MAX_PLOT_CLASSES,
    multiclass_metrics,
    plot_data,
    tune_threshold,
)
from ml_lifecycle.model.params import EvaluationParams
from ml_lifecycle.model.scoring import choose_threshold, score_and_evaluate
from ml_lifecycle.pipelines.evaluation.nodes import evaluate_baseline, plot_evaluation
from tests.pipelines.evaluation.test_nodes import EVALUATION

PARAMS = {**EVALUATION, "slices": []}
HISTORY = {"history": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}}


def _split(path: Path, label: np.ndarray, **columns: np.ndarray) -> pads.Dataset:
    table = pa.table({**{k: pa.array(v) for k, v in columns.items()}, LABEL: pa.array(label)})
    pq.write_table(table, path)
    return pads.dataset(str(path))


def _statistics(task: str, features: tuple[str, ...] = ("x",), classes: int = 0) -> dict:
    names = [f"c{i}" for i in range(classes)] if task == "multiclass" else None
    return {
        "task": task,
        "class_names": names or (["no", "yes"] if task == "binary" else None),
        "numeric": {name: {} for name in features},
        "categorical": {},
    }


def _score_is_x(inputs):
    return inputs["x"][:, 0].astype("float64")


# ------------------------------------------------------------------- the threshold rule


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_fixed_threshold_is_refused_where_there_is_none(tmp_path, task):
    data = _split(tmp_path / "s.parquet", np.array([0, 1, 2, 1]), x=np.arange(4.0))
    statistics = _statistics(task, classes=3)
    message = (
        rf"^evaluation\.threshold is 0\.3, but a {task} task has no decision threshold: "
        r"set it to `tuned` \(base's value, which only binary tasks use\)\.$"
    )
    with pytest.raises(ConfigError, match=message):
        score_and_evaluate(_score_is_x, data, data, statistics, {**PARAMS, "threshold": 0.3})
    # The baseline refuses it before fitting anything (no train split needed to get there).
    with pytest.raises(ConfigError, match=message):
        evaluate_baseline(None, data, data, statistics, {**PARAMS, "threshold": 0.3})


def test_tuned_is_accepted_and_ignored_by_regression(tmp_path):
    y = np.array([1.0, 2.0, 3.0, 4.0])
    data = _split(tmp_path / "s.parquet", y, x=y + 0.5)
    result = score_and_evaluate(_score_is_x, data, data, _statistics("regression"), PARAMS)
    assert result["metrics"]["mae"] == pytest.approx(0.5)
    assert "threshold" not in result["metrics"] and "threshold_fallback" not in result["metrics"]


def _weak_signal(seed: int, rows: int = 2000, positive_rate: float = 0.2):
    """Labels unrelated to scores in [0.32, 0.42]: maximum F1 calls (nearly) every row positive."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < positive_rate).astype("float32")
    return y, (0.32 + 0.1 * rng.random(rows)).astype("float32")


def test_a_tuned_threshold_labelling_every_row_one_class_falls_back(tmp_path, caplog):
    y_val, s_val = _weak_signal(1)
    params = EvaluationParams.model_validate(PARAMS)
    tuned = tune_threshold(y_val, s_val)
    share = float(np.mean(s_val >= tuned))
    assert share > 0.99  # the precondition: max F1 is (nearly) all positive here
    validation = _split(tmp_path / "v.parquet", y_val, x=s_val)
    y_test, s_test = _weak_signal(2)
    test = _split(tmp_path / "t.parquet", y_test, x=s_test)
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.model.scoring"):
        result = score_and_evaluate(_score_is_x, validation, test, _statistics("binary"), params)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    text = warned[0].getMessage()
    assert f"tuned threshold {tuned:.4f}" in text
    assert f"{100 * share:.1f}% of the validation rows positive" in text
    assert "evaluation.max_predicted_share 0.99" in text and "0.5 is used instead" in text
    metrics = result["metrics"]
    assert metrics["threshold"] == 0.5 and metrics["threshold_fallback"] is True
    assert metrics["threshold_tuned"] == pytest.approx(tuned)
    # Every test score is under 0.5: the fallback threshold calls every row negative, not positive.
    assert metrics["recall"] == 0.0 and metrics["accuracy"] == pytest.approx(1 - y_test.mean())
    assert result["plot_data"]["threshold"] == {"threshold": 0.5, "tuned": tuned, "fallback": True}
    # 1.0 turns the check off: the tuned threshold stands.
    kept = choose_threshold("binary", params.model_copy(update={"max_predicted_share": 1.0}),
                            y_val, s_val)  # fmt: skip
    assert kept == {"threshold": tuned, "tuned": tuned, "fallback": False}


def test_a_healthy_tuned_threshold_is_kept(tmp_path, caplog):
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.3).astype("float32")
    score = np.clip(0.25 + 0.4 * y + 0.2 * rng.standard_normal(2000), 0, 1).astype("float32")
    data = _split(tmp_path / "v.parquet", y, x=score)
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.model.scoring"):
        result = score_and_evaluate(_score_is_x, data, data, _statistics("binary"), PARAMS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    metrics = result["metrics"]
    assert metrics["threshold_fallback"] is False
    assert metrics["threshold"] == metrics["threshold_tuned"] != 0.5
    assert 0.05 < np.mean(score >= metrics["threshold"]) < 0.95
    assert result["plot_data"]["threshold"]["fallback"] is False


def test_lopsided_labels_keep_a_lopsided_threshold():
    # 0.5% positives, perfectly ranked: max F1 calls 99.5% of rows negative, as the labels are.
    y = np.zeros(2000, dtype="float32")
    y[:10] = 1
    score = np.where(y == 1, 0.9, np.linspace(0.0, 0.5, 2000)).astype("float32")
    params = EvaluationParams.model_validate(PARAMS)
    chosen = choose_threshold("binary", params, y, score)
    assert np.mean(score < chosen["threshold"]) == 0.995  # over max_predicted_share 0.99
    assert chosen["threshold"] == chosen["tuned"] == pytest.approx(0.9)
    assert chosen["fallback"] is False


def test_a_fixed_binary_threshold_is_used_as_set():
    params = EvaluationParams.model_validate({**PARAMS, "threshold": 0.01})
    y, score = _weak_signal(4)
    assert choose_threshold("binary", params, y, score) == {
        "threshold": 0.01,
        "tuned": None,
        "fallback": False,
    }


# ------------------------------------------------------------------- multiclass curves


def _multiclass(rows: int, classes: int, seed: int, noise: float):
    """Labels with falling frequencies, and probabilities that favour the label."""
    rng = np.random.default_rng(seed)
    weights = np.arange(classes, 0, -1, dtype="float64")
    y = rng.choice(classes, size=rows, p=weights / weights.sum())
    logits = 3.0 * np.eye(classes)[y] + noise * rng.standard_normal((rows, classes))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba.astype("float32")


def test_multiclass_curves_per_frequent_class_and_micro_average():
    y, proba = _multiclass(3000, 12, seed=5, noise=1.5)
    names = [f"class_{i}" for i in range(12)]
    data = plot_data("multiclass", y, proba, 0.5, names)
    counts = np.bincount(y, minlength=12)
    frequent = [names[c] for c in np.argsort(-counts, kind="stable")[:MAX_PLOT_CLASSES]]
    assert list(data["roc"]["classes"]) == list(data["pr"]["classes"]) == frequent
    onehot = np.eye(12)[y]
    for c in (0, 5):
        assert data["roc"]["classes"][names[c]]["auc"] == pytest.approx(
            skm.roc_auc_score(onehot[:, c], proba[:, c]), abs=1e-6
        )
        assert data["pr"]["classes"][names[c]]["auc"] == pytest.approx(
            skm.average_precision_score(onehot[:, c], proba[:, c]), abs=1e-6
        )
    assert data["roc"]["micro"]["auc"] == pytest.approx(
        skm.roc_auc_score(onehot, proba, average="micro"), abs=1e-6
    )
    assert data["pr"]["micro"]["auc"] == pytest.approx(
        skm.average_precision_score(onehot, proba, average="micro"), abs=1e-6
    )
    roc = data["roc"]["classes"][names[0]]
    assert roc["fpr"][0] == 0.0 and len(roc["fpr"]) == len(roc["tpr"]) < 2 * MAX_CURVE_POINTS
    calibration = data["calibration"]
    assert 5 <= len(calibration["predicted"]) == len(calibration["observed"]) <= 10
    assert all(0 <= v <= 1 for v in calibration["predicted"] + calibration["observed"])
    assert np.array(data["confusion"]).sum() == 3000


def test_multiclass_metrics_add_the_macro_ovr_roc_auc():
    y, proba = _multiclass(1500, 4, seed=6, noise=2.0)
    m = multiclass_metrics(y, proba, ["a", "b", "c", "d"])
    assert m["roc_auc_ovr"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-6
    )
    assert 0.6 < m["roc_auc_ovr"] < 1.0
    # A slice missing a class: averaged over the classes it has.
    kept = y != 3
    part = multiclass_metrics(y[kept], proba[kept], ["a", "b", "c", "d"])
    onehot = np.eye(4)[y[kept]][:, :3]
    assert part["roc_auc_ovr"] == pytest.approx(
        skm.roc_auc_score(onehot, proba[kept][:, :3], average="macro"), abs=1e-6
    )
    assert multiclass_metrics(np.zeros(3, int), proba[:3], list("abcd"))["roc_auc_ovr"] is None


def test_multiclass_plots_draw_each_class_and_the_micro_averages(tmp_path):
    y, proba = _multiclass(1200, 3, seed=7, noise=1.0)
    _, weaker = _multiclass(1200, 3, seed=8, noise=3.0)
    data = _split(tmp_path / "s.parquet", y, x=np.arange(1200.0))
    statistics = _statistics("multiclass", classes=3)

    def fake(probabilities):
        return lambda inputs: probabilities[inputs["x"][:, 0].astype(int)]

    model = score_and_evaluate(fake(proba), data, data, statistics, PARAMS)
    baseline = score_and_evaluate(fake(weaker), data, data, statistics, PARAMS)
    assert model["metrics"]["accuracy"] == pytest.approx(np.mean(proba.argmax(1) == y))
    assert model["metrics"]["roc_auc_ovr"] > baseline["metrics"]["roc_auc_ovr"]
    figures = plot_evaluation(model, baseline, HISTORY, statistics)
    assert set(figures) == {
        "training_curves.png",
        "confusion_matrix.png",
        "roc_curve.png",
        "pr_curve.png",
        "calibration.png",
    }
    roc = model["plot_data"]["roc"]
    labels = [t.get_text() for t in figures["roc_curve.png"].axes[0].get_legend().get_texts()]
    assert labels == [
        *(f"{name} (AUC {roc['classes'][name]['auc']:.3f})" for name in ("c0", "c1", "c2")),
        f"micro-average (AUC {roc['micro']['auc']:.3f})",
        f"baseline micro-average (AUC {baseline['plot_data']['roc']['micro']['auc']:.3f})",
    ]
    pr_labels = [t.get_text() for t in figures["pr_curve.png"].axes[0].get_legend().get_texts()]
    assert len(pr_labels) == 5 and pr_labels[3].startswith("micro-average (PR-AUC ")
    calibration = figures["calibration.png"].axes[0]
    assert [line.get_label() for line in calibration.lines][:2] == ["model", "baseline"]


def test_baseline_multiclass_probabilities_raise_no_sum_to_one_warning(tmp_path):
    # Three well-separated classes: the GBDT trains long and gives some classes < 1e-8.
    rng = np.random.default_rng(9)

    def split(name, rows):
        x = rng.choice([-1.5, 0.0, 1.5], size=rows) + 0.3 * rng.uniform(-1, 1, size=rows)
        z = rng.normal(size=rows)
        region = np.where(rng.random(rows) < 0.5, "east", "west")
        return _split(
            tmp_path / f"{name}.parquet", np.digitize(x, [-0.75, 0.75]), x=x, z=z, region=region
        )

    splits = {name: split(name, rows) for name, rows in (("train", 2000), ("v", 300), ("t", 300))}
    statistics = _statistics("multiclass", ("x", "z"), classes=3)
    params = {**EVALUATION, "slices": ["region"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_baseline(splits["train"], splits["v"], splits["t"], statistics, params)
    assert not [w for w in caught if "sum to one" in str(w.message)]
    assert result["metrics"]["accuracy"] > 0.97 and result["metrics"]["log_loss"] < 0.1
    assert set(result["slices"]["region"]) == {"east", "west"}
