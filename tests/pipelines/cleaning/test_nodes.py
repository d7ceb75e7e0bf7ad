"""Cleaning: each rule sends exactly its rows to quarantine, statistics come from Spark."""

from __future__ import annotations

import math

import pytest

from ml_lifecycle.core.errors import ConfigError, RowAccountingError
from ml_lifecycle.pipelines.cleaning.nodes import account_cleaning, clean, fit_cleaning_statistics

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
    primary, quarantine = clean(intermediate, stats, PARAMS)
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

    report = account_cleaning(intermediate, primary, quarantine)
    assert (report["in"], report["kept"], report["quarantined"]) == (12, 4, 8)
    assert report["quarantined_by_reason"]["missing_target:target"] == 2


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
    primary, quarantine = clean(intermediate, stats, PARAMS)
    lost = _written(spark, primary.limit(1), tmp_path / "p")
    with pytest.raises(RowAccountingError, match=r"cleaning: 12 rows in but 1 kept \+ 8 .* lost"):
        account_cleaning(intermediate, lost, _written(spark, quarantine, tmp_path / "q"))


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
