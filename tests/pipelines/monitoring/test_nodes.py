"""Monitoring and iterate nodes on small Spark frames: drift report, batch metric, decision."""

from __future__ import annotations

import random

import pytest
from matplotlib.colors import to_rgb
from pyspark.sql import functions as F

from ml_lifecycle.core import drift
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.orchestration.iterate import outcome_of, plan_retraining
from ml_lifecycle.pipelines.iterate.nodes import decide_iteration
from ml_lifecycle.pipelines.monitoring.nodes import measure_drift, measure_performance, plot_drift

SCHEMA = "flight int, distance double, carrier string, arr_delay double"
PARAMS = {
    "bins": 10,
    "max_categories": 1000,
    "thresholds": {
        "default": {"psi": 0.2, "js": 0.1, "linf": 0.1, "unseen_share": 0.01},
        "columns": {"distance": {"psi": 0.5}},
    },
    "significance": 0.01,
    "quarantine": {"max_share": 0.05},
    "performance": {"min_labelled_rows": 200},
}
PERFORMANCE = PARAMS["performance"]
# `iterate.retrain` where a test checks only the triggers: nothing to retrain on.
RETRAIN = {"window": {}, "pipelines": [], "params": {}, "data_dir": "d"}
CHAMPION = {"model_name": "m", "model_version": "3", "model_run_id": "r"}
FEATURES = {"task": "binary", "label": "CAST(arr_delay > 15 AS INT)"}
# The champion as `iterate` reads it: its test ROC-AUC from its run's evaluation.
CHAMPION_EVALUATED = {
    **CHAMPION,
    "task": "binary",
    "artifacts": {"evaluation_metrics": {"model": {"roc_auc": 0.7}}},
}


def _batch(spark, n=2000, distance_shift=0.0, new_carrier_every=0):
    rows = []
    for i in range(n):
        carrier = ("UA", "B6", "EV")[i % 3]
        if new_carrier_every and i % new_carrier_every == 0:
            carrier = "ZZ"
        delay = None if i % 100 == 0 else float((i * 7) % 60)
        rows.append((i, float(100 + (i * 37) % 1000) + distance_shift, carrier, delay))
    return spark.createDataFrame(rows, SCHEMA)


def _predictions(batch, good=True):
    late = (F.col("arr_delay") > 15).cast("double")
    score = late * 0.6 + 0.2 if good else F.lit(0.5) - late * 0.3
    return batch.select("flight", F.coalesce(score, F.lit(0.3)).alias("prediction"))


def _reference(spark):
    batch = _batch(spark)
    columns = drift.profile(batch, ["distance"], ["carrier"])["columns"]
    prediction = drift.profile(_predictions(batch), ["prediction"], [])["columns"]
    return {
        "model": {"name": "m", "version": "3", "run_id": "r"},
        "rows": 2000,
        "columns": {**columns, **prediction},
    }


def test_the_reference_data_has_no_drift_and_no_retrain(spark):
    batch = _batch(spark)
    report = measure_drift(_reference(spark), batch, _predictions(batch), PARAMS)
    assert report["over"] == {} and report["over_count"] == 0
    assert set(report["columns"]) == {"distance", "carrier", "prediction"}
    # Every number is reported, over or not, with the threshold that applied.
    assert report["columns"]["distance"]["psi"] == 0.0
    assert report["thresholds"]["distance"]["psi"] == 0.5
    assert report["columns"]["carrier"]["js"] == 0.0
    performance = measure_performance(
        batch, _predictions(batch), CHAMPION, FEATURES, ["flight"], {"min_labelled_rows": 100}
    )
    assert performance["labelled_rows"] == 1980 and performance["value"] == pytest.approx(1.0)
    retrain_params = {
        "window": {"flights_path": "x"},
        "pipelines": ["training"],
        "params": {},
        "data_dir": "d",
    }
    triggers = {"triggers": {"drift": "any", "performance": {"max_degradation": 0.1}}}
    decision = decide_iteration(
        report, performance, CHAMPION_EVALUATED, {**triggers, "retrain": retrain_params}
    )
    assert decision["retrain"] is False and decision["reasons"] == []
    # The decision carries the retraining it would start; `kedro iterate` starts none here.
    assert decision["retraining"] == {**retrain_params, "params": {}}
    assert plan_retraining(decision, "test", {}, "run") is None
    assert outcome_of(decision) == {"retrained": False, "reasons": []}
    plot_drift(report)


def test_a_shifted_batch_flags_its_columns_and_asks_for_retraining(spark):
    batch = _batch(spark, distance_shift=400.0, new_carrier_every=10)
    report = measure_drift(_reference(spark), batch, _predictions(batch, good=False), PARAMS)
    assert set(report["over"]) == {"distance", "carrier", "prediction"}
    assert report["columns"]["carrier"]["unseen_values"] == ["ZZ"]
    assert any(r.startswith("unseen_share 0.1000") for r in report["over"]["carrier"])
    # The plot: one bar per column on a log axis, red exactly for the columns over a threshold.
    (ax,) = plot_drift(report).axes
    red = [t.get_text() for t, bar in zip(ax.get_yticklabels(), ax.patches, strict=True)
           if bar.get_facecolor()[:3] == to_rgb("#c0392b")]  # fmt: skip
    assert ax.get_xscale() == "log" and sorted(red) == sorted(report["over"])
    performance = measure_performance(
        batch, _predictions(batch, good=False), CHAMPION, FEATURES, ["flight"], PERFORMANCE
    )
    assert performance["value"] == pytest.approx(0.0)
    triggers = {"drift": ["carrier"], "performance": {"max_degradation": 0.1}}
    decision = decide_iteration(
        report, performance, CHAMPION_EVALUATED, {"triggers": triggers, "retrain": RETRAIN}
    )
    assert decision["retrain"] is True
    assert [r.split(":")[0] for r in decision["reasons"]] == ["drift", "performance"]
    assert decision["reasons"][0].startswith("drift: carrier (")
    assert decision["reasons"][1] == (
        "performance: roc_auc 0.0000 is below 0.6300 (the champion's test roc_auc 0.7000 -10%)"
    )


def test_a_small_batch_drawn_from_the_reference_is_within_noise_not_drift(spark):
    rng = random.Random(7)
    values = [f"C{i:02d}" for i in range(60)]

    def sample(n):
        rows = [(i, rng.choice(values), 0.5) for i in range(n)]
        return spark.createDataFrame(rows, "flight int, carrier string, prediction double")

    reference_rows, batch = sample(6000), sample(150)
    reference = {
        "model": {"name": "m", "version": "3", "run_id": "r"},
        "rows": 6000,
        "columns": drift.profile(reference_rows, ["prediction"], ["carrier"])["columns"],
    }
    report = measure_drift(reference, batch.drop("prediction"), batch, PARAMS)
    carrier = report["columns"]["carrier"]
    # 150 rows over 60 values: a JS distance well past 0.1 from sampling alone, and a G-test
    # that finds nothing.
    assert carrier["js"] > 0.2 and carrier["p_value"] > 0.05
    assert report["over"] == {} and carrier["over"] == []
    assert report["within_noise"] == {"carrier": carrier["within_noise"]}
    assert carrier["within_noise"][0].startswith("js ")
    triggers = {"drift": "any", "performance": None}
    decision = decide_iteration(
        report, {"value": None}, CHAMPION, {"triggers": triggers, "retrain": RETRAIN}
    )
    assert decision["retrain"] is False
    assert decision["checks"][0]["within_noise"] == report["within_noise"]
    # Without the significance level the thresholds alone decide, and it would retrain.
    alone = measure_drift(
        reference, batch.drop("prediction"), batch, {**PARAMS, "significance": None}
    )
    assert set(alone["over"]) == {"carrier"} and alone["within_noise"] == {}
    with pytest.raises(ConfigError, match="monitoring.significance"):
        measure_drift(reference, batch, batch, {**PARAMS, "significance": 5})


def test_the_report_counts_what_the_batch_lost_before_scoring(spark, caplog):
    batch = _batch(spark)
    reasons = {"duplicate_key:flight": 300, "outlier_zscore:distance": 100}
    stages = (
        {"in": 3000, "kept": 2400, "quarantined": 600, "quarantined_by_reason": {"bad": 600}},
        {"in": 2400, "kept": 2000, "quarantined": 400, "quarantined_by_reason": reasons},
        {"in": 2000, "kept": 2000, "scored": 2000, "quarantined": 0},
    )
    logger = "ml_lifecycle.pipelines.monitoring.nodes"
    with caplog.at_level("WARNING", logger=logger):
        report = measure_drift(_reference(spark), batch, _predictions(batch), PARAMS, *stages)
    quarantine = report["quarantine"]
    assert quarantine["in"] == quarantine["scored"] + quarantine["quarantined"] == 3000
    assert quarantine["by_reason"] == {"bad": 600, **reasons}
    assert quarantine["share"] == pytest.approx(1 / 3) and quarantine["over"] is True
    # The scored rows look like the reference: what was lost is not drift, and says so apart.
    assert report["over"] == {}
    assert "33.33% of the batch (1000 of 3000 rows) was quarantined before scoring" in caplog.text
    title = plot_drift(report).axes[0].get_title()
    assert "1,000 of 3,000 quarantined before scoring (33.33%, over 0.05)" in title
    lenient = {**PARAMS, "quarantine": {"max_share": 0.5}}
    assert (
        measure_drift(_reference(spark), batch, _predictions(batch), lenient, *stages)[
            "quarantine"
        ]["over"]
        is False
    )


def test_an_unlabelled_batch_skips_the_metric(spark):
    batch = _batch(spark).drop("arr_delay")
    reference = _reference(spark)
    reference["columns"].pop("prediction")
    predictions = batch.selectExpr("flight", "0.5 AS prediction")
    performance = measure_performance(
        batch, predictions, CHAMPION, FEATURES, ["flight"], PERFORMANCE
    )
    assert performance["labelled_rows"] == 0 and performance["value"] is None
    report = {"model": {}, "columns": {}, "over": {}}
    triggers = {"drift": "any", "performance": {"max_degradation": 0.0}}
    decision = decide_iteration(
        report, performance, CHAMPION_EVALUATED, {"triggers": triggers, "retrain": RETRAIN}
    )
    assert decision["retrain"] is False
    assert decision["checks"][-1]["skipped"] == "0 labelled rows"
