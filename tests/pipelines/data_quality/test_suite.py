"""Suites from YAML: each mistake is a ConfigError naming the entry, before any Spark job."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import parse_suite, prepare

ROOT = Path(__file__).parents[3]
SCHEMA = "id int, month int, origin string, sched_dep_time int, temp double"
ROWS = [(1, 1, "EWR", 515, 40.0), (2, 13, "XXX", 2460, None), (3, None, None, 5, 200.0)]


def _suite(**expectations):
    return {"name": "t", "expectations": expectations}


def between(column="month", **kw):
    return {"type": "expect_column_values_to_be_between", "column": column, **kw}


@pytest.fixture
def frame(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


@pytest.fixture
def no_spark_job(spark):
    """Asserts that the test body launched no Spark job (all jobs land in a fresh job group)."""
    context = spark.sparkContext
    group = f"config-check-{id(context)}"
    context.setJobGroup(group, "must stay empty")
    yield
    jobs = context.statusTracker().getJobIdsForGroup(group)
    context.setLocalProperty("spark.jobGroup.id", None)
    assert list(jobs) == [], f"Spark jobs ran during the configuration check: {list(jobs)}"


def test_the_flights_suite_parses_into_its_expectations():
    config = yaml.safe_load((ROOT / "conf/base/expectations/flights.yml").read_text())
    suite = parse_suite(config["expectation_suite"], where="flights")
    names = [e.name for e in suite.expectations]
    assert len(names) == 31 and len(set(names)) == 31
    assert "required:arr_delay" in names and "required" not in names  # a column list expands
    assert suite.get("known_origin").kwargs["value_set"] == ["EWR", "JFK", "LGA"]
    assert {e.name for e in suite.quarantining} == {
        "dest_is_iata",
        "plausible_temp_f",
        "plausible_pressure_mb",
        "plausible_visib_miles",
        "plausible_humid_pct",
    }
    assert suite.get("target_rate").severity == "critical"
    assert suite.get("known_carrier").severity == "warning"
    assert {"flight_key", "sched_dep_hhmm", "delayed"} <= set(suite.derived)


def test_an_override_changes_only_the_keys_it_names():
    suite = parse_suite(
        _suite(m=between(min_value=1, max_value=12, severity="critical")),
        overrides={"m": {"max_value": 24, "severity": "warning"}},
    )
    exp = suite.get("m")
    assert exp.kwargs == {"column": "month", "min_value": 1, "max_value": 24}
    assert exp.severity == "warning"


def test_an_override_of_an_unknown_expectation_suggests_the_name():
    with pytest.raises(ConfigError, match=r"override 'mnth' names no expectation.*'month'"):
        parse_suite(_suite(month=between(min_value=1)), overrides={"mnth": {"min_value": 2}})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"type": "expect_column_values_to_be_betwen", "column": "month", "min_value": 1},
            r"t\.expectations\.e: unknown expectation type 'expect_column_values_to_be_betwen'\."
            r" Did you mean 'expect_column_values_to_be_between'\?",
        ),
        (
            {"type": "check_month", "column": "month"},
            r"t\.expectations\.e: type 'check_month' is not a GX expectation",
        ),
        ({"column": "month"}, r"t\.expectations\.e: each expectation needs a 'type'"),
        (
            between(min_vale=1, max_value=12),
            r"t\.expectations\.e: invalid arguments for expect_column_values_to_be_between:"
            r" .*min_vale extra fields not permitted",
        ),
        (between(), r"t\.expectations\.e: set min_value, max_value or both"),
        (
            between(min_value=12, max_value=1),
            r"t\.expectations\.e: min_value 12 is greater than max_value 1",
        ),
        (
            {"type": "expect_column_values_to_be_in_set", "column": "origin"},
            r"t\.expectations\.e: invalid arguments .* value_set field required",
        ),
        (
            between(min_value=1, severity="fatal"),
            r"t\.expectations\.e: severity must be one of \('critical', 'warning'\), not 'fatal'",
        ),
        (
            between(min_value=1, quarantine="yes"),
            r"t\.expectations\.e: quarantine must be true or false, not 'yes'",
        ),
        (
            {
                "type": "expect_column_mean_to_be_between",
                "column": "temp",
                "min_value": 0,
                "quarantine": True,
            },
            r"t\.expectations\.e: quarantine works for row-level expectations only",
        ),
    ],
)
def test_a_bad_entry_is_a_config_error_naming_it(entry, message, no_spark_job):
    with pytest.raises(ConfigError, match=message):
        parse_suite(_suite(e=entry), where="t")


def test_two_expectations_with_one_name_are_refused():
    config = _suite(**{"m": between(column=["month", "id"], min_value=1), "m:id": between()})
    with pytest.raises(ConfigError, match=r"two expectations are called 'm:id'"):
        parse_suite(config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _suite(m=between(column="mnth", min_value=1)),
            r"t\.expectations\.m: column 'mnth' does not exist\. Did you mean 'month'\?",
        ),
        (
            _suite(n={"type": "expect_column_values_to_not_be_null", "column": ["id", "tmp"]}),
            r"t\.expectations\.n:tmp: column 'tmp' does not exist\. Did you mean 'temp'\?",
        ),
        (
            _suite(o=between(column="origin", min_value=1)),
            r"t\.expectations\.o: expect_column_values_to_be_between needs a numeric column;"
            r" 'origin' is string",
        ),
        (
            _suite(r={"type": "expect_column_values_to_match_regex", "column": "id", "regex": "x"}),
            r"t\.expectations\.r: expect_column_values_to_match_regex needs a string column;"
            r" 'id' is int",
        ),
        (
            _suite(
                r={"type": "expect_column_values_to_match_regex", "column": "origin", "regex": "(["}
            ),
            r"t\.expectations\.r: the regex '\(\[' is invalid: Unclosed character class",
        ),
        (
            {
                "name": "t",
                "derived": {"k": "concat(origin, mnth)"},
                "expectations": {"m": between(column="k", min_value=1)},
            },
            r"t\.derived\.k: the expression 'concat\(origin, mnth\)' is invalid",
        ),
    ],
)
def test_a_suite_that_does_not_fit_the_data_fails_before_any_spark_job(
    frame, config, message, no_spark_job
):
    suite = parse_suite(config, where="t")
    with pytest.raises(ConfigError, match=message):
        validate(frame, suite)


def test_prepare_keeps_the_derived_columns_and_only_the_columns_the_suite_reads(frame):
    config = {
        "name": "t",
        "derived": {"hhmm": "lpad(CAST(sched_dep_time AS STRING), 4, '0')"},
        "expectations": {
            "hhmm": {"type": "expect_column_values_to_match_regex", "column": "hhmm", "regex": "x"},
            "m": between(min_value=1),
        },
    }
    prepared = prepare(frame, parse_suite(config))
    assert prepared.columns == ["hhmm", "month"]
    assert [r.hhmm for r in prepared.orderBy("month").collect()] == ["0005", "0515", "2460"]


# (name, entry, ids of the rows GX counts as unexpected): a null is unexpected only to not-null.
ROW_LEVEL = [
    ("not_null", {"type": "expect_column_values_to_not_be_null", "column": "month"}, [3]),
    ("between", between(min_value=1, max_value=12), [2]),
    ("strict_min", between(column="temp", min_value=40, strict_min=True), [1]),
    (
        "strict_min_max",
        between(column="temp", min_value=40, max_value=100, strict_min=True),
        [1, 3],
    ),
    ("strict_max", between(column="temp", max_value=40, strict_max=True), [1, 3]),
    (
        "in_set",
        {"type": "expect_column_values_to_be_in_set", "column": "origin", "value_set": ["EWR"]},
        [2],
    ),
    (
        "not_in_set",
        {"type": "expect_column_values_to_not_be_in_set", "column": "origin", "value_set": ["EWR"]},
        [1],
    ),
    (
        "regex",
        {"type": "expect_column_values_to_match_regex", "column": "origin", "regex": "^E"},
        [2],
    ),
    (
        "not_regex",
        {"type": "expect_column_values_to_not_match_regex", "column": "origin", "regex": "^E"},
        [1],
    ),
]


@pytest.mark.parametrize(
    ("name", "entry", "unexpected_ids"), ROW_LEVEL, ids=[r[0] for r in ROW_LEVEL]
)
def test_the_row_predicate_selects_the_offending_rows(frame, name, entry, unexpected_ids):
    exp = parse_suite(_suite(**{name: entry})).get(name)
    assert sorted(r.id for r in frame.filter(exp.unexpected()).collect()) == unexpected_ids


def test_gx_counts_exactly_the_rows_the_predicate_selects(frame):
    suite = parse_suite(_suite(**{name: entry for name, entry, _ in ROW_LEVEL}))
    summary, _ = validate(frame, suite, example_count=0)
    counted = {r["name"]: r["unexpected_count"] for r in summary["expectations"]}
    assert counted == {name: len(ids) for name, _, ids in ROW_LEVEL}
