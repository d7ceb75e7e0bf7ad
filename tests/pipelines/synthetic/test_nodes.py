"""Synthetic data: the requested size, deterministic, and every injected fault caught downstream."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from ml_lifecycle.datasets import SparkSourcesDataset
from ml_lifecycle.pipelines.cleaning.nodes import clean, fit_cleaning_statistics
from ml_lifecycle.pipelines.ingestion.nodes import ingest
from ml_lifecycle.pipelines.synthetic.nodes import synthesize_rows

SLICE = Path(__file__).parents[3] / "data/01_raw/nycflights13_slice/flights.csv.gz"
SCHEMA = {
    "year": "int", "month": "int", "day": "int", "dep_time": "double", "sched_dep_time": "int",
    "dep_delay": "double", "arr_time": "double", "sched_arr_time": "int", "arr_delay": "double",
    "carrier": "string", "flight": "int", "tailnum": "string", "origin": "string",
    "dest": "string", "air_time": "double", "distance": "double", "hour": "int",
    "minute": "int", "time_hour": "timestamp",
}  # fmt: skip
PARAMS = {
    "source": "flights",
    "rows": 20_000,
    "seed": 7,
    "rows_per_file": 5_000,
    "distinct_key": {"column": "flight", "stride": 10_000},
    "jitter": {"dep_delay": {"sd": 5}, "air_time": {"relative_sd": 0.03}},
    "faults": {
        "duplicate_rate": 0.01,
        "malformed": {
            "rate": 0.01,
            "text_in_column": "dep_delay",
            "extra_field_in_column": "distance",
        },
        "outliers": {"rate": 0.005, "columns": ["air_time"], "factor": 20},
    },
    "shift": {},
}


def _sources(path):
    spec = {"filepath": str(path), "format": "csv", "schema": SCHEMA}
    return SparkSourcesDataset(sources={"flights": spec}).load()


@pytest.fixture(scope="module")
def landing(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "flights"
    text = synthesize_rows(_sources(SLICE), PARAMS)
    text.write.options(header="true", quote="", escapeQuotes="false").csv(str(out))
    return out


def test_size_files_and_determinism(spark, landing):
    text = spark.read.option("header", "true").csv(str(landing))
    duplicates = text.count() - PARAMS["rows"]
    assert 100 < duplicates < 300  # ~1% of 20,000
    assert len(list(landing.glob("part-*.csv"))) == 4
    again = spark.read.option("header", "true").csv(str(landing))
    assert again.exceptAll(text).count() == 0


def test_every_injected_fault_is_caught_by_ingestion_and_cleaning(spark, landing):
    text = (
        spark.read.option("header", "false")
        .text(str(landing))
        .filter(~F.col("value").startswith("year,"))
    )
    n_fields = F.size(F.split("value", ","))
    expected_malformed = text.filter(F.col("value").contains(",n/a,") | (n_fields > 19)).count()

    params = {"main_source": "flights", "joins": [], "derived": {}}
    intermediate, quarantine, counts = ingest(_sources(landing), params)
    reasons = {r.reason: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    assert reasons == {"malformed_record": expected_malformed}
    assert counts.get("flights/in")["rows"] == text.count()

    cleaning = {
        "target": {"column": "arr_delay", "on_missing": "quarantine"},
        "dedupe": {
            "keys": ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]
        },
        "outliers": {"air_time": {"method": "zscore", "threshold": 6, "action": "drop"}},
        "required": [],
        "types": {},
        "rules": {},
        "impute": {},
        "fit_filter": None,
        "quantile_accuracy": 10000,
    }
    stats = fit_cleaning_statistics(intermediate, cleaning)
    primary, cleaned_out = clean(intermediate, stats, cleaning)
    by_reason = {r._reason: r["count"] for r in cleaned_out.groupBy("_reason").count().collect()}
    good = text.filter(~(F.col("value").contains(",n/a,") | (n_fields > 19)))
    exact_copies = good.count() - good.distinct().count()
    # A copy of a row rejected for another reason carries that reason, not "duplicate".
    other = cleaned_out.filter(~F.col("_reason").startswith("duplicate_key")).drop("_reason")
    copies_of_rejected = other.count() - other.distinct().count()
    duplicates = by_reason["duplicate_key:year+month+day+carrier+flight+origin+sched_dep_time"]
    assert duplicates + copies_of_rejected == exact_copies > 100
    assert by_reason["outlier_zscore:air_time"] > 0
    assert primary.count() + sum(by_reason.values()) == intermediate.count()


def test_shift_moves_exactly_the_configured_columns(spark):
    base = {**PARAMS, "rows": 4_000, "faults": {}}
    shift = {"carrier": {"value": "ZZ", "rate": 0.3}, "distance": {"scale": 1.5, "add": 10}}
    plain = synthesize_rows(_sources(SLICE), base)
    shifted = synthesize_rows(_sources(SLICE), {**base, "shift": shift})
    joined = plain.withColumn("_i", F.monotonically_increasing_id()).join(
        shifted.withColumn("_i", F.monotonically_increasing_id()), on="_i"
    )
    left, right = plain.columns, shifted.columns
    assert left == right
    stats = joined.select(
        *[
            F.sum((plain[c].eqNullSafe(shifted[c])).cast("int")).alias(c)
            for c in left
            if c not in ("carrier", "distance")
        ],
        F.avg((shifted["carrier"] == "ZZ").cast("double")).alias("zz"),
        F.max(F.abs(shifted["distance"].cast("double") - (plain["distance"] * 1.5 + 10))).alias(
            "err"
        ),
    ).first()
    # Every other column is untouched; ~30% of carriers are the new ZZ; distance = 1.5 x + 10.
    assert all(stats[c] == 4_000 for c in left if c not in ("carrier", "distance"))
    assert 0.27 < stats["zz"] < 0.33
    assert stats["err"] < 1e-6


def test_an_unknown_shift_is_a_config_error():
    with pytest.raises(Exception, match=r"synthetic.shift.distance: use \{value, rate\}"):
        synthesize_rows(_sources(SLICE), {**PARAMS, "shift": {"distance": {"mul": 2}}})


def test_a_batch_smaller_than_the_sample_spreads_over_all_of_it(spark):
    small = synthesize_rows(_sources(SLICE), {**PARAMS, "rows": 600, "faults": {}})
    months = {r["month"] for r in small.select("month").distinct().collect()}
    real = {r["month"] for r in _sources(SLICE)["flights"].select("month").distinct().collect()}
    assert months == {str(m) for m in real if m is not None}
