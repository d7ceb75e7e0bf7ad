"""Cleaning: each rule sends exactly its rows to quarantine, statistics come from Spark, and the
accounting counts the values clipped and imputed."""

from __future__ import annotations

import math

import pytest

from ml_lifecycle.core.errors import ConfigError, RowAccountingError
from ml_lifecycle.pipelines.cleaning.nodes import (
    account_cleaning,
    clean,
    clean_and_count,
    fit_cleaning_statistics,
)

INF, NAN = float("inf"), float("nan")
SCHEMA = "key int, grp string, x double, y double, target double, cat string, s string"
ROWS = [
    (1, "a", 1.0, 10.0, 1.0, "u", "1"),
    (1, "a", 1.0, 10.0, 1.0, "u", "1"),  # exact duplicate of key 1
    (2, "a", 2.0, 11.0, None, "u", "2"),  # no target
    (3, "b", INF, 12.0, 0.0, "v", "3"),  # non-finite x
    (4, "b", NAN, 13.0, 1.0, None, "4"),  # NaN x -> missing -> imputed; cat imputed
    (5, "b", 3.0, 1000.0, 0.0, "v", "5"),  # y outlier
    (6, "b", -1.0, 14.0, 1.0, "v", "6"),  # rule x >= 0 fails
    (7, None, 4.0, 15.0, 0.0, "v", "7"),  # required grp missing
    (8, "c", 5.0, 16.0, None, "w", "8"),  # key 8: this copy lacks the target...
    (8, "c", 5.0, 16.0, 1.0, "w", "8"),  # ...and this one is complete: it is the one kept
    (9, "c", 6.0, 17.0, 0.0, "w", "abc"),  # s does not cast to int
    (10, "c", None, 18.0, 1.0, "w", "10"),  # missing x -> imputed
]
PARAMS = {
    "target": {"column": "target", "on_missing": "quarantine"},
    "required": ["key", "grp"],
    "types": {"s": "int"},
    "rules": {"x_non_negative": "x >= 0"},
    "outliers": {"y": {"method": "iqr", "k": 3.0, "action": "drop"}},
    "dedupe": {"keys": ["key"]},
    "impute": {"x": "median", "cat": "mode", "y": "mean"},
    "fit_filter": None,
    "quantile_accuracy": 10000,
}


@pytest.fixture
def intermediate(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


def _written(spark, df, path):
    df.write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def test_each_rule_quarantines_exactly_its_rows(spark, intermediate, tmp_path):
    stats = fit_cleaning_statistics(intermediate, PARAMS)
    primary, quarantine, repairs = clean_and_count(intermediate, stats, PARAMS)
    primary = _written(spark, primary, tmp_path / "p")
    quarantine = _written(spark, quarantine, tmp_path / "q")

    reasons = sorted((r.key, r._reason) for r in quarantine.collect())
    assert reasons == [
        (1, "duplicate_key:key"),
        (2, "missing_target:target"),
        (3, "non_finite:x"),
        (5, "outlier_iqr:y"),
        (6, "rule:x_non_negative"),
        (7, "missing_required:grp"),
        (8, "missing_target:target"),
        (9, "type_coercion:s"),
    ]
    kept = {r.key: r for r in primary.collect()}
    assert sorted(kept) == [1, 4, 8, 10]
    assert kept[8].target == 1.0
    assert dict(primary.dtypes)["s"] == "int" and kept[4].s == 4
    # Imputed with statistics of the rows that have a target (NaN and inf ignored).
    assert kept[4].x == stats["impute"]["x"] == kept[10].x
    assert kept[4].cat == stats["impute"]["cat"] == "v"

    report = account_cleaning(intermediate, primary, quarantine, repairs)
    assert (report["in"], report["kept"], report["quarantined"]) == (12, 4, 8)
    assert report["quarantined_by_reason"]["missing_target:target"] == 2
    # Of the kept rows, key 4 (NaN) and key 10 (null) had no x, key 4 no cat; y is complete.
    assert report["imputed"] == {"x": 2, "y": 0, "cat": 1}
    assert report["clipped"] == {}


def test_statistics_are_fitted_in_spark_on_finite_values_with_a_target(intermediate):
    stats = fit_cleaning_statistics(intermediate, PARAMS)
    # Rows with a target: keys 1,1,3,4,5,6,7,8,9,10 -> finite x: 1,1,3,-1,4,5,6 (no inf/NaN/null).
    assert stats["fitted_on_rows"] == 10
    assert stats["impute"]["x"] == 3.0
    ys = [10.0, 10.0, 12.0, 13.0, 1000.0, 14.0, 15.0, 16.0, 17.0, 18.0]
    assert math.isclose(stats["impute"]["y"], sum(ys) / len(ys))
    bounds = stats["outliers"]["y"]
    assert bounds["method"] == "iqr" and bounds["lower"] < 10.0 and 18.0 < bounds["upper"] < 1000.0


def test_fit_filter_restricts_the_statistics(intermediate):
    stats = fit_cleaning_statistics(intermediate, {**PARAMS, "fit_filter": "grp = 'c'"})
    assert stats["fitted_on_rows"] == 3 and stats["impute"]["x"] == 5.0


def test_clip_keeps_the_row_at_the_bound(spark, intermediate):
    params = {**PARAMS, "outliers": {"y": {"method": "zscore", "threshold": 1.0, "action": "clip"}}}
    stats = fit_cleaning_statistics(intermediate, params)
    primary, quarantine = clean(intermediate, stats, params)
    assert not [r for r in quarantine.collect() if r._reason.startswith("outlier")]
    assert max(r.y for r in primary.collect()) <= stats["outliers"]["y"]["upper"]


def test_clip_leaves_a_missing_value_to_imputation(spark, intermediate):
    # Spark's greatest() skips nulls: an unguarded clip would turn a missing x into its lower bound.
    params = {**PARAMS, "outliers": {"x": {"method": "iqr", "k": 0.1, "action": "clip"}}}
    stats = fit_cleaning_statistics(intermediate, params)
    assert stats["outliers"]["x"]["lower"] != stats["impute"]["x"]
    primary, _ = clean(intermediate, stats, params)
    assert {r.key: r.x for r in primary.collect()}[10] == stats["impute"]["x"]


def test_missing_target_can_become_a_value_of_its_own(spark, intermediate):
    params = {**PARAMS, "target": {"column": "target", "on_missing": "fill", "fill_value": -1}}
    stats = fit_cleaning_statistics(intermediate, params)
    primary, _ = clean(intermediate, stats, params)
    assert {r.key: r.target for r in primary.collect()}[2] == -1.0


def test_accounting_refuses_lost_rows(spark, intermediate, tmp_path):
    stats = fit_cleaning_statistics(intermediate, PARAMS)
    primary, quarantine, repairs = clean_and_count(intermediate, stats, PARAMS)
    lost = _written(spark, primary.limit(1), tmp_path / "p")
    with pytest.raises(RowAccountingError, match=r"cleaning: 12 rows in but 1 kept \+ 8 .* lost"):
        account_cleaning(intermediate, lost, _written(spark, quarantine, tmp_path / "q"), repairs)


REPAIR_SCHEMA = "key int, x double, n int, y double, label string, target double"
REPAIR_ROWS = [
    (1, -3.0, 5, None, "a", 1.0),  # x below its bound; y missing
    (2, 20.0, 50, 1.0, None, 0.0),  # x above; n above; label missing
    (3, 30.0, -7, None, "b", 1.0),  # x above; n below; y missing
    (4, None, 0, 2.0, "a", 0.0),  # x missing: imputed, not clipped
    (5, 0.0, 10, 3.0, "a", 1.0),  # x and n at their bounds: left as they are
    (6, NAN, 3, 4.0, "b", 0.0),  # NaN x: missing, imputed
    (7, 50.0, 99, None, None, None),  # quarantined (no target): nothing of it counted
    (8, 10.0, None, None, "a", None),  # quarantined too
]
REPAIR_PARAMS = {
    **PARAMS,
    "required": ["key"],
    "types": {},
    "rules": {},
    "outliers": {
        "x": {"method": "iqr", "k": 1.5, "action": "clip"},
        "n": {"method": "zscore", "threshold": 3.0, "action": "clip"},
    },
    "dedupe": None,
    "impute": {"x": "median", "y": {"strategy": "constant", "value": -1.0}, "label": "mode"},
}
REPAIR_STATS = {
    "fitted_on_rows": 6,
    "impute": {"x": 5.0, "y": -1.0, "label": "a"},
    "outliers": {
        "x": {"method": "iqr", "lower": 0.0, "upper": 10.0},
        "n": {"method": "zscore", "lower": 0.0, "upper": 10.0},
    },
}


def test_the_accounting_counts_each_columns_clipped_and_imputed_values(spark, tmp_path):
    intermediate = spark.createDataFrame(REPAIR_ROWS, REPAIR_SCHEMA)
    primary, quarantine, repairs = clean_and_count(intermediate, REPAIR_STATS, REPAIR_PARAMS)
    primary = _written(spark, primary, tmp_path / "p")
    quarantine = _written(spark, quarantine, tmp_path / "q")
    # Spark took the counts while it wrote the clean table: reading them runs no job.
    context = spark.sparkContext
    context.setJobGroup("reading-repair-counts", "reading the observed counts")
    try:
        counts = repairs.counts()
    finally:
        context.setJobGroup("tests", "the rest")
    assert context.statusTracker().getJobIdsForGroup("reading-repair-counts") == []
    report = account_cleaning(intermediate, primary, quarantine, repairs)
    assert {k: report[k] for k in ("clipped", "imputed")} == counts

    assert (report["in"], report["kept"], report["quarantined"]) == (8, 6, 2)
    assert report["in"] == report["kept"] + report["quarantined"]
    assert report["clipped"] == {"x": {"below": 1, "above": 2}, "n": {"below": 1, "above": 1}}
    assert report["imputed"] == {"x": 2, "y": 2, "label": 1}
    rows = {r.key: r for r in primary.collect()}
    assert [rows[k].x for k in range(1, 7)] == [0.0, 10.0, 10.0, 5.0, 0.0, 5.0]
    assert [rows[k].n for k in range(1, 7)] == [5, 10, 0, 0, 10, 3]
    assert [rows[k].y for k in range(1, 7)] == [-1.0, 1.0, -1.0, 2.0, 3.0, 4.0]


def test_nothing_to_clip_or_impute_is_counted_as_nothing(spark, tmp_path):
    intermediate = spark.createDataFrame(REPAIR_ROWS, REPAIR_SCHEMA)
    params = {**REPAIR_PARAMS, "outliers": {}, "impute": {}}
    stats = {**REPAIR_STATS, "impute": {}, "outliers": {}}
    primary, quarantine, repairs = clean_and_count(intermediate, stats, params)
    primary = _written(spark, primary, tmp_path / "p")
    report = account_cleaning(
        intermediate, primary, _written(spark, quarantine, tmp_path / "q"), repairs
    )
    assert (report["kept"], report["clipped"], report["imputed"]) == (6, {}, {})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"required": ["grp", "gpr"]}, r"cleaning.required: column 'gpr' does not exist"),
        ({"impute": {"x": "avg"}}, r"cleaning.impute.x.strategy must be one of"),
        ({"outliers": {"y": {"method": "mad"}}}, r"cleaning.outliers.y.method must be one of"),
        ({"rules": {"r": "x >>> 1"}}, r"cleaning.rules.r: the expression 'x >>> 1' is invalid"),
    ],
)
def test_config_mistakes_are_one_sentence_errors(intermediate, params, message):
    with pytest.raises(ConfigError, match=message):
        stats = fit_cleaning_statistics(intermediate, {**PARAMS, **params})
        clean(intermediate, stats, {**PARAMS, **params})


def test_cleaning_without_fitted_statistics_says_to_run_the_whole_stage(intermediate):
    with pytest.raises(ConfigError, match=r"no cleaning_statistics.json .*--pipelines cleaning"):
        clean(intermediate, None, PARAMS)
