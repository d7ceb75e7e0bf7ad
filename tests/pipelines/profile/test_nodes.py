"""Profile: statistics computed in Spark, and a starter suite that the profiled data passes."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import parse_suite
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
    text = draft_suite(profile, PARAMS)
    assert text.startswith(
        "# Starter suite drafted by `kedro run --pipelines profile` from 5 rows."
    )
    config = yaml.safe_load(text)["expectation_suite"]
    expectations = config["expectations"]
    assert config["name"] == "mini" and config["_replace"] is True
    assert expectations["row_count"]["min_value"] == 2
    assert expectations["row_count"]["max_value"] == 8
    assert expectations["required"]["column"] == ["id", "origin", "ratio", "big", "at"]
    assert expectations["id_unique"]["min_value"] == 1.0
    assert (expectations["temp_range"]["min_value"], expectations["temp_range"]["max_value"]) == (
        39.0,
        50.0,
    )
    assert expectations["origin_values"]["value_set"] == ["EWR", "JFK", "LGA"]
    # No range where NaN or infinity would fail it.
    assert "ratio_range" not in expectations and "big_range" not in expectations
    assert len(parse_suite(config).expectations) == len(expectations) - 1 + 5  # `required` x5


def test_the_unedited_starter_suite_passes_on_its_data_and_catches_new_values(
    spark, frame, profile
):
    suite = parse_suite(yaml.safe_load(draft_suite(profile, PARAMS))["expectation_suite"])
    summary, _ = validate(frame, suite, example_count=2)
    assert summary["failed"] == [] and summary["success"] is True

    changed = frame.union(spark.createDataFrame([(5, "BOS", 60.0, 0.9, 5.0, True, T0)], SCHEMA))
    summary, _ = validate(changed, suite, example_count=2)
    assert sorted(summary["failed"]) == ["id_unique", "origin_values", "temp_range"]
