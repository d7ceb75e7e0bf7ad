"""decide_iteration's performance trigger: the batch metric against the champion's own test one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.pipelines.iterate import create_pipeline
from ml_lifecycle.pipelines.iterate.nodes import decide_iteration
from ml_lifecycle.pipelines.iterate.params import IterateParams

ROOT = Path(__file__).resolve().parents[3]
RETRAIN = {"window": {}, "pipelines": [], "params": {}, "data_dir": "d"}
NO_DRIFT = {"model": {"name": "m", "version": "3"}, "columns": {}, "over": {}}
# Base's setting (conf/base/parameters_monitoring.yml), the same for every task.
BASE = {"triggers": {"drift": False, "performance": {"max_degradation": 0.1}}, "retrain": RETRAIN}


def _champion(task, **test_metrics):
    evaluation = {"model": {"rows": 500, **test_metrics}, "baseline": {}}
    return {
        "model_name": "m",
        "model_version": "3",
        "model_run_id": "r",
        "task": task,
        "artifacts": {"evaluation_metrics": evaluation if test_metrics else None},
    }


def _batch(metric, value, rows=1000):
    return {"metric": metric, "value": value, "labelled_rows": rows, "model": {}}


def _check(decision):
    (check,) = [c for c in decision["checks"] if c["trigger"] == "performance"]
    return check


def test_a_multiclass_batch_as_good_as_the_champions_test_split_does_not_retrain():
    # 0.51 accuracy over three classes: the old absolute ROC-AUC floor (0.6) retrained every time.
    champion = _champion("multiclass", accuracy=0.513, macro_f1=0.4)
    decision = decide_iteration(NO_DRIFT, _batch("accuracy", 0.51), champion, BASE)
    assert decision["retrain"] is False and decision["reasons"] == []
    check = _check(decision)
    assert check["task"] == "multiclass" and check["metric"] == "accuracy"
    assert check["value"] == 0.51 and check["champion_test_value"] == 0.513
    assert check["retrain_when"] == "below"
    assert check["bound"] == pytest.approx(0.513 * 0.9)
    assert "skipped" not in check


def test_a_multiclass_batch_well_below_the_champions_accuracy_retrains():
    champion = _champion("multiclass", accuracy=0.513)
    decision = decide_iteration(NO_DRIFT, _batch("accuracy", 0.40), champion, BASE)
    assert decision["retrain"] is True
    assert decision["reasons"] == [
        "performance: accuracy 0.4000 is below 0.4617 (the champion's test accuracy 0.5130 -10%)"
    ]


def test_a_binary_batch_below_the_bound_retrains_and_one_above_does_not():
    champion = _champion("binary", roc_auc=0.72, accuracy=0.8)
    low = decide_iteration(NO_DRIFT, _batch("roc_auc", 0.5849), champion, BASE)
    assert low["retrain"] is True
    assert low["reasons"] == [
        "performance: roc_auc 0.5849 is below 0.6480 (the champion's test roc_auc 0.7200 -10%)"
    ]
    assert _check(low)["task"] == "binary" and _check(low)["bound"] == pytest.approx(0.648)
    high = decide_iteration(NO_DRIFT, _batch("roc_auc", 0.70), champion, BASE)
    assert high["retrain"] is False and _check(high)["value"] == 0.70


def test_a_regression_rmse_above_the_bound_retrains_higher_being_worse():
    champion = _champion("regression", rmse=30.0, mae=20.0, r2=0.1)
    worse = decide_iteration(NO_DRIFT, _batch("rmse", 34.0), champion, BASE)
    assert worse["retrain"] is True
    assert worse["reasons"] == [
        "performance: rmse 34.0000 is above 33.0000 (the champion's test rmse 30.0000 +10%)"
    ]
    check = _check(worse)
    assert check["task"] == "regression" and check["retrain_when"] == "above"
    assert check["bound"] == pytest.approx(33.0)
    # A lower rmse than on the test split is better, never a reason.
    better = decide_iteration(NO_DRIFT, _batch("rmse", 12.0), champion, BASE)
    assert better["retrain"] is False
    within = decide_iteration(NO_DRIFT, _batch("rmse", 32.9), champion, BASE)
    assert within["retrain"] is False


def test_a_metric_of_another_task_than_the_champions_is_refused_naming_the_key():
    champion = _champion("binary", roc_auc=0.72, accuracy=0.8)
    # A multiclass env scoring with a binary champion: binary metrics have an accuracy too, so
    # the task decides, not the metric's name.
    with pytest.raises(ConfigError) as error:
        decide_iteration(NO_DRIFT, _batch("accuracy", 0.51), champion, BASE)
    message = str(error.value)
    assert message.startswith("iterate.triggers.performance: the batch was measured by accuracy")
    assert "the champion m v3 (run r) is a binary model, measured by roc_auc" in message
    # Refused even on a batch without labels: the configuration is wrong either way.
    with pytest.raises(ConfigError, match="iterate.triggers.performance"):
        decide_iteration(NO_DRIFT, _batch("rmse", None, rows=0), champion, BASE)
    # A champion whose model carries no task: its test metrics lacking the batch's metric.
    untyped = {**_champion(None, roc_auc=0.72), "task": None}
    with pytest.raises(ConfigError, match="test metrics of the champion m v3 .* have no rmse"):
        decide_iteration(NO_DRIFT, _batch("rmse", 3.0), untyped, BASE)


def test_without_the_champions_test_metric_or_labels_the_trigger_is_skipped_and_says_why(caplog):
    bare = _champion("binary")
    with caplog.at_level("WARNING", logger="ml_lifecycle.pipelines.iterate.nodes"):
        decision = decide_iteration(NO_DRIFT, _batch("roc_auc", 0.1), bare, BASE)
    assert decision["retrain"] is False
    check = _check(decision)
    assert (
        check["skipped"]
        == "the champion m v3 (run r) has no evaluation/metrics.json to compare with"
    )
    assert check["bound"] is None and check["value"] == 0.1
    assert "performance trigger cannot fire" in caplog.text
    null_auc = _champion("binary", roc_auc=None)
    assert (
        _check(decide_iteration(NO_DRIFT, _batch("roc_auc", 0.1), null_auc, BASE))["skipped"]
        == "the champion's test roc_auc is null"
    )
    unlabelled = decide_iteration(
        NO_DRIFT, _batch("roc_auc", None, rows=12), _champion("binary", roc_auc=0.7), BASE
    )
    assert unlabelled["retrain"] is False
    assert _check(unlabelled)["skipped"] == "12 labelled rows"
    assert _check(unlabelled)["bound"] == pytest.approx(0.63)


def test_the_trigger_off_checks_nothing_and_the_old_absolute_bounds_are_refused():
    off = {**BASE, "triggers": {"drift": False, "performance": None}}
    decision = decide_iteration(NO_DRIFT, _batch("roc_auc", 0.0), _champion("binary"), off)
    assert decision["retrain"] is False and decision["checks"] == []
    old = {**BASE, "triggers": {"drift": False, "performance": {"minimum": 0.6, "maximum": None}}}
    with pytest.raises(ConfigError, match=r"iterate\.triggers\.performance"):
        parse(IterateParams, old, "iterate")
    negative = {**BASE, "triggers": {"drift": False, "performance": {"max_degradation": -0.1}}}
    with pytest.raises(ConfigError, match=r"iterate\.triggers\.performance\.max_degradation"):
        parse(IterateParams, negative, "iterate")


def test_the_decision_reads_the_champions_test_metrics_the_evaluation_logs():
    (node,) = [n for n in create_pipeline().nodes if n.name == "decide_iteration"]
    assert node.inputs == [
        "drift_report",
        "batch_performance",
        "inference.champion",
        "params:iterate",
    ]
    conf = ROOT / "conf/base"
    champion = yaml.safe_load((conf / "catalog_inference.yml").read_text())["inference.champion"]
    evaluation = yaml.safe_load((conf / "catalog_model.yml").read_text())["evaluation_metrics"]
    logged = f"{evaluation['metadata']['mlflow']['artifact']}/metrics.json"
    assert evaluation["filepath"].endswith("/metrics.json")
    assert champion["dataset"]["artifacts"]["evaluation_metrics"] == logged
    assert "evaluation_metrics" in champion["dataset"]["optional_artifacts"]
