"""Each expectation kind of the flights suite, violated: critical stops the run, warning is logged.

One frame breaks every kind once; the same suite is validated with every entry critical, then with
every entry a warning, and a clean frame passes all of it.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from ml_lifecycle.pipelines.data_quality.gate import DataQualityError, enforce
from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import parse_suite

SCHEMA = "key string, month int, origin string, sched_dep_time int, arr_delay double"
BAD = [
    ("a", 1, "EWR", 515, 30.0),
    ("a", 2, "JFK", 600, 40.0),  # key 'a' repeated
    ("b", 13, "JFK", 2460, 50.0),  # month out of range; 2460 is no HHMM time
    ("c", 3, "XXX", 700, 60.0),  # unknown origin
    ("d", 4, None, 800, -5.0),  # origin missing
]
GOOD = [
    ("a", 1, "EWR", 515, 30.0),
    ("b", 12, "JFK", 2359, -5.0),
    ("c", 3, "LGA", 0, 0.0),
    ("d", 4, "EWR", 800, -1.0),
    ("e", 5, "JFK", 1200, 2.0),
]
SUITE = {
    "name": "flights_mini",
    "derived": {
        "sched_dep_hhmm": "lpad(CAST(sched_dep_time AS STRING), 4, '0')",
        "delayed": "CAST(arr_delay > 15 AS INT)",
    },
    "expectations": {
        "row_count": {"type": "expect_table_row_count_to_be_between", "min_value": 10},
        "key_unique": {
            "type": "expect_column_proportion_of_unique_values_to_be_between",
            "column": "key",
            "min_value": 1.0,
        },
        "origin_required": {"type": "expect_column_values_to_not_be_null", "column": "origin"},
        "month_in_range": {
            "type": "expect_column_values_to_be_between",
            "column": "month",
            "min_value": 1,
            "max_value": 12,
            "quarantine": True,
        },
        "known_origin": {
            "type": "expect_column_values_to_be_in_set",
            "column": "origin",
            "value_set": ["EWR", "JFK", "LGA"],
            "quarantine": True,
        },
        "sched_dep_is_hhmm": {
            "type": "expect_column_values_to_match_regex",
            "column": "sched_dep_hhmm",
            "regex": "^([01][0-9]|2[0-3])[0-5][0-9]$",
        },
        "target_rate": {
            "type": "expect_column_mean_to_be_between",
            "column": "delayed",
            "min_value": 0.1,
            "max_value": 0.4,
        },
    },
}
# name -> (type, column, what the message shows as observed, example values shown)
EXPECTED = {
    "row_count": ("expect_table_row_count_to_be_between", None, "observed 5", None),
    "key_unique": (
        "expect_column_proportion_of_unique_values_to_be_between",
        "key",
        "observed 0.8",
        "e.g. (key='a') x2",
    ),
    "origin_required": (
        "expect_column_values_to_not_be_null",
        "origin",
        "1 unexpected values (20% of rows)",
        "e.g. null",
    ),
    "month_in_range": (
        "expect_column_values_to_be_between",
        "month",
        "1 unexpected values (20% of non-null)",
        "e.g. 13",
    ),
    "known_origin": (
        "expect_column_values_to_be_in_set",
        "origin",
        "1 unexpected values (25% of non-null)",
        "e.g. 'XXX'",
    ),
    "sched_dep_is_hhmm": (
        "expect_column_values_to_match_regex",
        "sched_dep_hhmm",
        "1 unexpected values (20% of non-null)",
        "e.g. '2460'",
    ),
    "target_rate": ("expect_column_mean_to_be_between", "delayed", "observed 0.8", None),
}


def _all(severity: str) -> dict:
    return {name: {"severity": severity} for name in SUITE["expectations"]}


@pytest.fixture(scope="module")
def critical(spark):
    suite = parse_suite(SUITE, _all("critical"))
    summary, docs = validate(spark.createDataFrame(BAD, SCHEMA), suite)
    with pytest.raises(DataQualityError) as raised:
        enforce(summary)
    return summary, docs, str(raised.value)


@pytest.fixture(scope="module")
def warning(spark):
    suite = parse_suite(SUITE, _all("warning"))
    summary, _ = validate(spark.createDataFrame(BAD, SCHEMA), suite)
    return summary


def _line(message: str, name: str) -> str:
    lines = [line for line in message.splitlines() if line.startswith(f"  - {name}: ")]
    assert len(lines) == 1, message
    return lines[0]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_critical_failure_names_the_expectation_column_observed_value_and_examples(
    critical, name
):
    _, _, message = critical
    kind, column, observed, examples = EXPECTED[name]
    line = _line(message, name)
    assert line.startswith(f"  - {name}: {kind}")
    if column:
        assert f" on '{column}'" in line
    assert observed in line
    if examples:
        assert examples in line
    else:
        assert "e.g." not in line


def test_the_critical_error_counts_the_failures_and_points_to_the_reports(critical):
    summary, _, message = critical
    assert message.startswith(
        "Data quality: 7 critical expectation(s) of suite 'flights_mini' failed"
    )
    assert "08_reporting/data_quality/summary.json" in message
    assert summary["passed_gate"] is False and summary["success"] is False
    assert summary["failed"] == list(EXPECTED)


def test_the_summary_records_each_expectation_with_its_counts(critical):
    summary, _, _ = critical
    json.dumps(summary)  # the catalog writes it as JSON
    by_name = {r["name"]: r for r in summary["expectations"]}
    assert summary["rows"] == 5 and summary["evaluated"] == 7
    assert by_name["known_origin"] | {"kwargs": None} == {
        "name": "known_origin",
        "type": "expect_column_values_to_be_in_set",
        "columns": ["origin"],
        "kwargs": None,
        "severity": "critical",
        "quarantine": True,
        "success": False,
        "unexpected_count": 1,
        "unexpected_percent": 25.0,
        "observed_value": None,
        "examples": ["XXX"],
    }
    assert by_name["origin_required"]["unexpected_percent"] == 20.0
    assert by_name["key_unique"]["examples"] == [{"key": {"key": "a"}, "rows": 2}]
    assert by_name["target_rate"]["observed_value"] == 0.8
    assert by_name["row_count"]["observed_value"] == 5


def test_the_data_docs_are_a_static_site_showing_this_validation(critical):
    _, docs, _ = critical
    assert "index.html" in docs
    pages = [path for path in docs if re.match(r"validations/flights_mini/.*\.html$", path)]
    assert len(pages) == 1
    page = docs[pages[0]].decode()
    assert "1 unexpected values found" in page
    assert "XXX" not in page  # counts only: no partial lists of values from the data


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_warning_is_recorded_and_the_run_goes_on(warning, name):
    record = next(r for r in warning["expectations"] if r["name"] == name)
    assert record["severity"] == "warning" and record["success"] is False


def test_warnings_are_logged_and_the_gate_returns_the_rows_to_quarantine(warning, caplog):
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.pipelines.data_quality.gate"):
        to_quarantine = enforce(warning)
    assert to_quarantine == ["month_in_range", "known_origin"]
    assert warning["passed_gate"] is True and warning["success"] is False
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 7
    assert any(
        m.startswith("data quality warning: month_in_range:") and "e.g. 13" in m for m in logged
    )


def test_a_clean_frame_passes_every_expectation(spark):
    summary, _ = validate(
        spark.createDataFrame(GOOD, SCHEMA),
        parse_suite(SUITE, {"row_count": {"min_value": 5}}),
    )
    assert summary["failed"] == [] and summary["success"] is True
    assert all(r["examples"] == [] for r in summary["expectations"])
    assert enforce(summary) == []
