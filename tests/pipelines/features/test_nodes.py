"""Features nodes: labels, stable splits, train-only statistics, shards, accounting."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from ml_lifecycle.core.errors import ConfigError, RowAccountingError
from ml_lifecycle.pipelines.features.nodes import (
    account_features,
    assign_split,
    assign_split_and_count,
    fit_feature_statistics,
    make_model_input,
)
from tests.model_data import FEATURES, easy_table

TIME_PARAMS = {
    "task": "binary",
    "label": "CAST(delay > 15 AS INT)",
    "class_names": None,
    "forbidden": ["delay"],
    "numeric": {"distance": "zscore", "rain": "log_zscore"},
    "categorical": {"carrier": {"top_k": 2}},
    "passthrough": [],
    "split": {
        "method": "time",
        "time_column": "ts",
        "id_columns": ["id"],
        "cutoffs": {"validation": "2013-07-01", "test": "2013-10-01"},
        "seed": 0,
    },
    "numeric_bins": 0,
    "rows_per_shard": 2,
}


def _flights(spark):
    rows = [
        # id, ts, distance, rain, carrier, delay
        (1, datetime(2013, 1, 5), 100.0, 0.0, "AA", 30.0),
        (2, datetime(2013, 2, 5), 200.0, 1.0, "AA", 0.0),
        (3, datetime(2013, 3, 5), 300.0, 3.0, "UA", 20.0),
        (4, datetime(2013, 4, 5), 400.0, None, "UA", 5.0),
        (5, datetime(2013, 8, 5), 5000.0, 99.0, "ZZ", 60.0),  # validation
        (6, datetime(2013, 11, 5), 9000.0, 99.0, "YY", 60.0),  # test
        (7, datetime(2013, 12, 5), 9000.0, 99.0, "YY", None),  # no label
        (8, None, 100.0, 0.0, "AA", 1.0),  # no time: cannot be split
    ]
    schema = "id INT, ts TIMESTAMP, distance DOUBLE, rain DOUBLE, carrier STRING, delay DOUBLE"
    return spark.createDataFrame(rows, schema)


def test_time_split_follows_the_cutoffs_and_quarantines_what_it_cannot_place(spark):
    table, quarantine = assign_split(_flights(spark), TIME_PARAMS)
    split = {r["id"]: r["split"] for r in table.collect()}
    assert split == {1: "train", 2: "train", 3: "train", 4: "train", 5: "validation", 6: "test"}
    labels = {r["id"]: r["label"] for r in table.collect()}
    assert labels == {1: 1, 2: 0, 3: 1, 4: 0, 5: 1, 6: 1}
    reasons = {r["id"]: r["_reason"] for r in quarantine.collect()}
    assert reasons == {7: "missing_label", 8: "missing_split_key:ts"}
    assert "delay" not in table.columns  # only features, ids, passthrough, label and split


def test_statistics_come_from_the_train_split_only(spark):
    table, _ = assign_split(_flights(spark), TIME_PARAMS)
    stats = fit_feature_statistics(table, TIME_PARAMS)
    distance = stats["numeric"]["distance"]
    # Validation (5000) and test (9000) rows would move every one of these numbers.
    assert distance["mean"] == pytest.approx(250.0)
    assert distance["variance"] == pytest.approx(12500.0)
    assert (distance["min"], distance["max"], distance["count"]) == (100.0, 400.0, 4)
    rain = stats["numeric"]["rain"]
    assert rain["mean"] == pytest.approx((0 + 0.693147 + 1.386294) / 3, rel=1e-5)  # log1p
    assert rain["fill"] == pytest.approx(4 / 3)  # raw mean fills a missing value
    assert stats["categorical"]["carrier"]["vocabulary"] == ["AA", "UA"]  # not ZZ, not YY
    assert stats["label"] == {"rows": 4, "class_counts": {0: 2, 1: 2}}
    assert stats["rows_by_split"] == {"train": 4, "validation": 1, "test": 1}
    assert "bin_edges" not in distance  # numeric_bins off


def test_bin_edges_are_train_quantiles(spark):
    params = {**TIME_PARAMS, "numeric_bins": 4}
    table, _ = assign_split(_flights(spark), params)
    stats = fit_feature_statistics(table, params)
    # Quartiles of the train values 100..400; 5000 and 9000 (validation, test) stay out.
    assert stats["numeric"]["distance"]["bin_edges"] == [100.0, 200.0, 300.0]
    assert stats["numeric"]["rain"]["bin_edges"] == [0.0, 1.0, 3.0]  # nulls left out


def test_time_split_by_fractions_places_cutoffs_at_time_quantiles(spark):
    params = copy.deepcopy(TIME_PARAMS)
    del params["split"]["cutoffs"]
    params["split"]["fractions"] = {"train": 0.5, "validation": 0.25, "test": 0.25}
    table, _ = assign_split(_flights(spark), params)
    split = {r["id"]: r["split"] for r in table.collect()}
    # Seven timestamps: the median is 5 April, the 75th percentile 5 November.
    assert split == {
        1: "train", 2: "train", 3: "train", 4: "validation", 5: "validation", 6: "test"
    }  # fmt: skip


def test_random_split_is_stable_whatever_the_partitioning(spark):
    df = easy_table(spark, 3000)
    first, _ = assign_split(df, FEATURES)
    second, _ = assign_split(df.repartition(7, "x1"), FEATURES)
    a = {r["id"]: r["split"] for r in first.select("id", "split").collect()}
    b = {r["id"]: r["split"] for r in second.select("id", "split").collect()}
    assert a == b
    counts = {s: list(a.values()).count(s) for s in ("train", "validation", "test")}
    assert 0.65 < counts["train"] / 3000 < 0.75
    other_seed = copy.deepcopy(FEATURES)
    other_seed["split"]["seed"] = 8
    c, _ = assign_split(df, other_seed)
    assert {r["id"]: r["split"] for r in c.select("id", "split").collect()} != a


def test_model_input_has_one_frame_per_split_in_shards(spark):
    table, _ = assign_split(_flights(spark), TIME_PARAMS)
    stats = fit_feature_statistics(table, TIME_PARAMS)
    train, validation, test = make_model_input(table, stats, TIME_PARAMS)
    assert (train.count(), validation.count(), test.count()) == (4, 1, 1)
    assert train.rdd.getNumPartitions() == 2  # 4 rows, 2 rows per shard
    assert "split" not in train.columns and "label" in train.columns


def _written(spark, df, path):
    df.write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def test_accounting_adds_up_and_fails_when_rows_go_missing(spark, tmp_path):
    flights = _written(spark, _flights(spark), tmp_path / "in")
    table, quarantine, counts = assign_split_and_count(flights, TIME_PARAMS)
    table = _written(spark, table, tmp_path / "table")
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")
    # Counted while written: the rows per split and the reasons need no pass of their own.
    assert counts.get("kept") == {
        "rows": 6, "by_reason": {"train": 4, "validation": 1, "test": 1}, "observed": True
    }  # fmt: skip
    record = account_features(flights, table, quarantine, counts)
    assert (record["in"], record["kept"], record["quarantined"]) == (8, 6, 2)
    assert record["kept_by_split"] == {"train": 4, "validation": 1, "test": 1}
    assert sum(record["quarantined_by_reason"].values()) == 2
    lost = _written(spark, table.filter(F.col("id") != 1), tmp_path / "lost")
    with pytest.raises(RowAccountingError, match="8 rows in but 5 kept"):
        account_features(flights, lost, quarantine, counts)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"numeric": {"delay": "zscore"}}, r"\['delay'\] are listed in features.forbidden"),
        ({"numeric": {"distanse": "zscore"}}, "Did you mean 'distance'"),
        ({"numeric": {"distance": "sqrt"}}, "normalization 'sqrt'"),
        ({"task": "ranking"}, "features.task must be one of"),
        ({"label": "delay >"}, "features.label: the expression"),
        ({"split": {**TIME_PARAMS["split"], "time_column": "tss"}}, "Did you mean 'ts'"),
    ],
)
def test_configuration_mistakes_are_clear_errors(spark, change, message):
    params = {**copy.deepcopy(TIME_PARAMS), **change}
    with pytest.raises(ConfigError, match=message):
        assign_split(_flights(spark), params)


def test_a_window_that_misses_the_cutoffs_is_a_clear_error(spark):
    # Only January to April: nothing reaches the validation (July) and test (October) cut-offs.
    flights = _flights(spark).filter(F.col("id") <= 4)
    table, quarantine, counts = assign_split_and_count(flights, TIME_PARAMS)
    with pytest.raises(ConfigError, match=r"no rows fell in the validation and test split"):
        account_features(flights, table, quarantine, counts)
    # `cutoffs: null` with fractions (what iterate's retraining run passes) splits the window.
    params = copy.deepcopy(TIME_PARAMS)
    params["split"]["cutoffs"] = None
    params["split"]["fractions"] = {"train": 0.5, "validation": 0.25, "test": 0.25}
    table, quarantine, counts = assign_split_and_count(flights, params)
    # Quantiles of four dates: the median is 5 February, the 75th percentile 5 March.
    assert account_features(flights, table, quarantine, counts)["kept_by_split"] == {
        "train": 1, "validation": 1, "test": 2
    }  # fmt: skip


def test_a_time_splits_id_column_is_checked_before_spark_sees_it(spark):
    params = copy.deepcopy(TIME_PARAMS)
    params["split"]["id_columns"] = ["idd"]
    with pytest.raises(ConfigError) as error:
        assign_split(_flights(spark), params)
    message = str(error.value)
    assert message.startswith("features.split.id_columns: column 'idd' does not exist.")
    assert "Did you mean 'id'?" in message and "org.apache" not in message


def _years(spark):
    # id, year, distance, rain, carrier, delay: 1990..1999, one row each, and one with no year.
    rows = [(i, 1989 + i, 100.0 * i, 0.0, "AA", 30.0 * (i % 2)) for i in range(1, 11)]
    rows.append((11, None, 100.0, 0.0, "AA", 0.0))
    schema = "id INT, year INT, distance DOUBLE, rain DOUBLE, carrier STRING, delay DOUBLE"
    return spark.createDataFrame(rows, schema)


def _split_on(column, cutoffs=None, fractions=None):
    params = copy.deepcopy(TIME_PARAMS)
    params["split"] = {**params["split"], "time_column": column, "cutoffs": cutoffs}
    if fractions is not None:
        params["split"]["fractions"] = fractions
    return params


def _by_split(table):
    rows = table.groupBy("split").count().collect()
    return {r["split"]: r["count"] for r in rows}


def test_time_split_on_an_integer_year(spark):
    params = _split_on("year", {"validation": 1996, "test": 1998})
    table, quarantine = assign_split(_years(spark), params)
    split = {r["id"]: r["split"] for r in table.collect()}
    # 1990..1995 train, 1996..1997 validate, 1998..1999 test.
    assert split == {i: "train" for i in range(1, 7)} | {7: "validation", 8: "validation"} | {
        9: "test",
        10: "test",
    }
    assert [r["_reason"] for r in quarantine.collect()] == ["missing_split_key:year"]
    # A float cut-off compares with the integers too.
    table, _ = assign_split(_years(spark), _split_on("year", {"validation": 1995.5, "test": 1999}))
    assert _by_split(table) == {"train": 6, "validation": 3, "test": 1}


def test_time_split_on_an_integer_year_by_fractions(spark):
    fractions = {"train": 0.6, "validation": 0.2, "test": 0.2}
    table, _ = assign_split(_years(spark), _split_on("year", fractions=fractions))
    # Ten years: the 60th percentile is 1995, the 80th 1997.
    assert _by_split(table) == {"train": 5, "validation": 2, "test": 3}


def test_time_split_on_a_date_column(spark):
    flights = _flights(spark).withColumn("day", F.to_date("ts"))
    params = _split_on("day", {"validation": "2013-07-01", "test": "2013-11-05"})
    table, quarantine = assign_split(flights, params)
    split = {r["id"]: r["split"] for r in table.collect()}
    # 5 November is the test cut-off itself: that row tests.
    assert split == {1: "train", 2: "train", 3: "train", 4: "train", 5: "validation", 6: "test"}
    assert {r["id"] for r in quarantine.collect()} == {7, 8}
    fractions = {"train": 0.5, "validation": 0.25, "test": 0.25}
    table, _ = assign_split(flights, _split_on("day", fractions=fractions))
    # As on the timestamps: the median is 5 April, the 75th percentile 5 November.
    assert _by_split(table) == {"train": 3, "validation": 2, "test": 1}


def test_time_split_on_a_timestamp_takes_a_time_of_day(spark):
    flights = _flights(spark)
    params = _split_on("ts", {"validation": "2013-08-05 00:00:01", "test": "2013-11-05T00:00"})
    table, _ = assign_split(flights, params)
    # 5 August midnight is before the validation cut-off by one second.
    assert _by_split(table) == {"train": 5, "test": 1}


@pytest.mark.parametrize(
    ("column", "cutoffs", "message"),
    [
        (
            "carrier",
            {"validation": "AA", "test": "UA"},
            r"^features.split.time_column: column 'carrier' is string; a time split needs a "
            r"date, timestamp or numeric column",
        ),
        (
            "year",
            {"validation": "1996", "test": 1998},
            r"^features.split.cutoffs.validation: '1996' is not a number, and the split column "
            r"'year' is int\.$",
        ),
        (
            "day",
            {"validation": "2013-07-01", "test": "2013-13-01"},
            r"^features.split.cutoffs.test: '2013-13-01' is not a date \(YYYY-MM-DD\)",
        ),
        (
            "ts",
            {"validation": 1996, "test": "2013-11-01"},
            r"^features.split.cutoffs.validation: 1996 is not a timestamp",
        ),
        (
            "year",
            {"validation": 1998, "test": 1996},
            r"^features.split.cutoffs: validation \(1998\) comes after test \(1996\)",
        ),
    ],
)
def test_a_time_column_or_cutoff_of_the_wrong_type_is_refused(spark, column, cutoffs, message):
    table = _years(spark).join(
        _flights(spark).select("id", "ts", F.to_date("ts").alias("day")), "id", "left"
    )
    with pytest.raises(ConfigError, match=message) as error:
        assign_split(table, _split_on(column, cutoffs))
    assert "\n" not in str(error.value)
