"""Profile: statistics of the table before cleaning, computed in Spark, and a starter suite that
the table cleaning makes of it passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.pipelines.cleaning.nodes import clean, fit_cleaning_statistics
from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import parse_suite
from ml_lifecycle.pipelines.profile import create_pipeline
from ml_lifecycle.pipelines.profile.nodes import draft_suite, profile_dataset

NAN, INF = float("nan"), float("inf")
SCHEMA = "id int, origin string, temp double, ratio double, big double, ok boolean, at timestamp"
T0 = dt.datetime(2013, 1, 1, 5, 0)
ROWS = [
    (1, "EWR", 39.0, 0.5, 1.0, True, T0),
    (2, "EWR", 41.0, NAN, 2.0, False, T0),
    (3, "JFK", None, 0.25, INF, True, T0 + dt.timedelta(hours=1)),
    (4, "LGA", 45.0, 1.0, 3.0, None, T0 + dt.timedelta(hours=2)),
    (5, "EWR", 50.0, 0.75, 4.0, True, T0 + dt.timedelta(hours=3)),
]
PARAMS = {
    "suite_name": "mini",
    "quantiles": [0.5],
    "top_values": 2,
    "max_set_size": 3,
    "row_count_tolerance": 0.5,
    "quantile_accuracy": 10000,
    "exclude": [],
}
# Cleaning that neither requires nor imputes anything: what is missing stays missing.
CLEANING = {
    "target": None,
    "required": [],
    "types": {},
    "rules": {},
    "outliers": {},
    "dedupe": None,
    "impute": {},
    "fit_filter": None,
    "quantile_accuracy": 10000,
}


@pytest.fixture(scope="module")
def frame(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


@pytest.fixture(scope="module")
def profile(frame):
    return profile_dataset(frame, PARAMS)


def test_the_profile_holds_types_nulls_ranges_quantiles_cardinalities_and_top_values(profile):
    columns = profile["columns"]
    assert profile["rows"] == 5
    assert columns["temp"] | {"stddev": None, "mean": None} == {
        "type": "double",
        "kind": "numeric",
        "null_count": 1,
        "null_fraction": 0.2,
        "approx_distinct": 4,
        "nan_count": 0,
        "min": 39.0,
        "max": 50.0,
        "mean": None,
        "stddev": None,
        "quantiles": {"0.5": 41.0},
        "unique": True,  # four values, four distinct
    }
    assert columns["temp"]["mean"] == pytest.approx(43.75)
    assert columns["origin"]["top_values"] == [
        {"value": "EWR", "count": 3},
        {"value": "JFK", "count": 1},
    ]
    assert columns["origin"]["value_set"] == ["EWR", "JFK", "LGA"]
    assert columns["id"]["unique"] is True and "unique" not in columns["origin"]
    # NaN is not a number to bound: min, max and mean are of the other values.
    assert (columns["ratio"]["nan_count"], columns["ratio"]["min"]) == (1, 0.25)
    assert columns["ratio"]["max"] == 1.0
    assert columns["big"]["max"] == "inf"
    assert columns["at"]["kind"] == "temporal" and columns["at"]["min"] == "2013-01-01T05:00:00"
    assert columns["ok"] == {
        "type": "boolean",
        "kind": "boolean",
        "null_count": 1,
        "null_fraction": 0.2,
        "approx_distinct": 2,
    }


def test_a_string_column_with_more_values_than_max_set_size_gets_no_set(frame):
    profile = profile_dataset(frame, {**PARAMS, "max_set_size": 2})
    assert "value_set" not in profile["columns"]["origin"]
    assert len(profile["columns"]["origin"]["top_values"]) == 2


def test_an_unknown_excluded_column_is_a_config_error(frame):
    with pytest.raises(ConfigError, match=r"profile\.exclude: column 'tmp' does not exist"):
        profile_dataset(frame, {**PARAMS, "exclude": ["tmp"]})


def test_the_starter_suite_drafts_what_was_observed(profile):
    text = draft_suite(profile, PARAMS, CLEANING)
    assert text.startswith(
        "# Starter suite drafted by `kedro run --pipelines profile` from 5 rows of the\n"
        "# table before cleaning, for data_quality, which validates the cleaned table."
    )
    config = yaml.safe_load(text)["expectation_suite"]
    expectations = config["expectations"]
    assert config["name"] == "mini" and config["_replace"] is True
    assert expectations["row_count"]["min_value"] == 2
    assert expectations["row_count"]["max_value"] == 8
    assert expectations["required"]["column"] == ["id", "origin", "big", "at"]
    # A column with a missing value (null, or NaN: cleaning reads it as missing) gets a share
    # that holds in as few rows as row_count allows: 1 missing of 2 rows.
    for name in ("temp", "ratio", "ok"):
        assert expectations[f"{name}_not_null"]["mostly"] == 0.5
        assert "missing 20.00%" in expectations[f"{name}_not_null"]["notes"]
    assert expectations["id_unique"]["min_value"] == 1.0
    assert (expectations["temp_range"]["min_value"], expectations["temp_range"]["max_value"]) == (
        39.0,
        50.0,
    )
    assert expectations["temp_range"]["notes"].startswith("observed before cleaning: double")
    # NaN is missing once cleaned: the range is of the other values; none where infinity occurs.
    assert (expectations["ratio_range"]["min_value"], expectations["ratio_range"]["max_value"]) == (
        0.25,
        1.0,
    )
    assert "big_range" not in expectations
    assert expectations["origin_values"]["value_set"] == ["EWR", "JFK", "LGA"]
    assert len(parse_suite(config).expectations) == len(expectations) - 1 + 4  # `required` x4


def test_the_unedited_starter_suite_passes_on_the_cleaned_data_and_catches_new_values(
    spark, frame, profile
):
    suite = parse_suite(yaml.safe_load(draft_suite(profile, PARAMS, CLEANING))["expectation_suite"])
    cleaned, _ = clean(frame, fit_cleaning_statistics(frame, CLEANING), CLEANING)
    summary, _ = validate(cleaned, suite, example_count=2)
    assert summary["failed"] == [] and summary["success"] is True

    changed = cleaned.union(spark.createDataFrame([(5, "BOS", 60.0, 0.9, 5.0, True, T0)], SCHEMA))
    summary, _ = validate(changed, suite, example_count=2)
    assert sorted(summary["failed"]) == ["id_unique", "origin_values", "temp_range"]


def test_the_draft_says_where_its_suite_key_is():
    text = (Path(__file__).parents[3] / "conf/base/parameters_profile.yml").read_text()
    draft = draft_suite({"rows": 0, "columns": {}}, PARAMS, CLEANING)
    assert list(yaml.safe_load(draft)) == ["expectation_suite"]
    assert "`expectation_suite`" in text and "_suite)" not in text


def test_the_pipeline_profiles_the_table_before_cleaning():
    nodes = {n.name: n for n in create_pipeline().nodes}
    assert nodes["profile_dataset"].inputs == ["intermediate_table", "params:profile"]
    assert nodes["draft_suite"].inputs == ["profile_report", "params:profile", "params:cleaning"]


# Before cleaning: gust is 10 of 11 rows missing, speed has one outlier cleaning clips, kind
# and rain miss values cleaning fills with constants, dep is missing where the target is.
RAW_SCHEMA = "id int, gust double, speed double, kind string, rain double, dep double, y double"
RAW_ROWS = [
    (i, 20.0 if i == 0 else None, 100.0 if i == 5 else float(i), "a" if i % 2 else None,
     None if i == 3 else 0.5 + i, None if i in (9, 10) else float(i), None if i == 10 else 1.0)
    for i in range(11)
]  # fmt: skip
RAW_CLEANING = {
    **CLEANING,
    "target": {"column": "y", "on_missing": "quarantine"},
    "required": ["id"],
    "outliers": {"speed": {"method": "iqr", "k": 1.5, "action": "clip"}},
    "impute": {
        "gust": "median",
        "speed": "median",
        "kind": {"strategy": "constant", "value": "unknown"},
        "rain": {"strategy": "constant", "value": -1.0},
    },
}


def test_the_raw_table_shows_its_missing_values_and_ranges_and_its_suite_fits_the_clean_one(
    spark,
):
    raw = spark.createDataFrame(RAW_ROWS, RAW_SCHEMA)
    profile = profile_dataset(raw, PARAMS)
    gust, speed = profile["columns"]["gust"], profile["columns"]["speed"]
    assert (gust["null_count"], gust["null_fraction"]) == (10, round(10 / 11, 6))
    assert speed["max"] == 100.0

    statistics = fit_cleaning_statistics(raw, RAW_CLEANING)
    cleaned, _ = clean(raw, statistics, RAW_CLEANING)
    # What the cleaned table would have shown: gust complete and one value, speed clipped.
    after = profile_dataset(cleaned, PARAMS)["columns"]
    assert after["gust"]["null_count"] == 0 and after["gust"]["approx_distinct"] == 1
    assert after["speed"]["max"] < 100.0

    config = yaml.safe_load(draft_suite(profile, PARAMS, RAW_CLEANING))["expectation_suite"]
    expectations = config["expectations"]
    # Columns cleaning requires or imputes are required, their raw missing share in the notes.
    assert expectations["required"]["column"] == ["id", "gust", "speed", "kind", "rain", "y"]
    assert "gust, kind, rain, y, which cleaning completes" in expectations["required"]["notes"]
    assert "missing 90.91%" in expectations["gust_range"]["notes"]
    # dep is neither imputed nor required: 2 missing, allowed in row_count's minimum of 5 rows.
    assert expectations["dep_not_null"]["mostly"] == 0.6
    assert "missing 18.18%" in expectations["dep_not_null"]["notes"]
    # The raw range, which the clipped values stay within; an imputed constant widens a bound.
    assert expectations["speed_range"]["max_value"] == 100.0
    assert "cleaning clips it (iqr)" in expectations["speed_range"]["notes"]
    assert expectations["rain_range"]["min_value"] == -1.0
    assert expectations["kind_values"]["value_set"] == ["a", "unknown"]
    assert "gust_unique" not in expectations and "id_unique" in expectations

    summary, _ = validate(cleaned, parse_suite(config), example_count=2)
    assert summary["failed"] == [] and summary["success"] is True
    # The raw table itself does not pass it: it still misses what cleaning fills.
    summary, _ = validate(raw, parse_suite(config), example_count=2)
    assert {"required:gust", "required:kind", "required:rain"} <= set(summary["failed"])
