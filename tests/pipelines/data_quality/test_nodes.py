"""Data-quality nodes: the gate, quarantine of exactly the offending rows, and the accounting."""

from __future__ import annotations

import copy

import pytest

from ml_lifecycle.core.errors import RowAccountingError
from ml_lifecycle.pipelines.data_quality.gate import DataQualityError
from ml_lifecycle.pipelines.data_quality.nodes import (
    account_data_quality,
    check_quality_gate,
    split_validated,
    validate_data_quality,
)

SCHEMA = "id int, month int, origin string, temp double"
ROWS = [
    (1, 1, "EWR", 40.0),
    (2, 13, "EWR", 41.0),  # month out of range
    (3, 2, "XXX", 42.0),  # unknown origin
    (4, 14, "YYY", 43.0),  # both: the first quarantining expectation is its reason
    (5, None, None, 500.0),  # nulls pass between / in-set; temp breaks a warning (no quarantine)
    (6, 12, "LGA", None),
]
SUITE = {
    "name": "mini",
    "derived": {"id_text": "CAST(id AS STRING)"},
    "expectations": {
        "row_count": {"type": "expect_table_row_count_to_be_between", "min_value": 1},
        "id_unique": {
            "type": "expect_column_proportion_of_unique_values_to_be_between",
            "column": "id_text",
            "min_value": 1.0,
        },
        "month_in_range": {
            "type": "expect_column_values_to_be_between",
            "column": "month",
            "min_value": 1,
            "max_value": 12,
            "severity": "warning",
            "quarantine": True,
        },
        "known_origin": {
            "type": "expect_column_values_to_be_in_set",
            "column": "origin",
            "value_set": ["EWR", "JFK", "LGA"],
            "severity": "warning",
            "quarantine": True,
        },
        "plausible_temp": {
            "type": "expect_column_values_to_be_between",
            "column": "temp",
            "min_value": -40,
            "max_value": 130,
            "severity": "warning",
        },
    },
}
PARAMS = {"example_values": 3, "cache": False}


@pytest.fixture(scope="module")
def primary(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


@pytest.fixture(scope="module")
def gated(primary):
    summary, docs = validate_data_quality(primary, SUITE, {}, PARAMS)
    return summary, docs, check_quality_gate(summary)


def _written(spark, df, path):
    df.write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def test_the_gate_passes_warnings_and_names_the_expectations_whose_rows_leave(gated):
    summary, docs, to_quarantine = gated
    assert to_quarantine == ["month_in_range", "known_origin"]
    assert summary["failed"] == ["month_in_range", "known_origin", "plausible_temp"]
    assert summary["passed_gate"] is True and summary["validated_at"]
    counts = {r["name"]: r["unexpected_count"] for r in summary["expectations"]}
    assert counts["month_in_range"] == 2 and counts["known_origin"] == 2
    assert "index.html" in docs


def test_quarantined_rows_are_exactly_the_offending_ones(spark, primary, gated, tmp_path):
    _, _, to_quarantine = gated
    validated, quarantine, counts = split_validated(primary, to_quarantine, SUITE, {})
    validated = _written(spark, validated, tmp_path / "validated")
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")

    assert validated.columns == primary.columns  # derived columns are never written
    assert sorted(r.id for r in validated.collect()) == [1, 5, 6]
    assert sorted((r.id, r._reason) for r in quarantine.collect()) == [
        (2, "expectation:month_in_range"),
        (3, "expectation:known_origin"),
        (4, "expectation:month_in_range"),
    ]


def test_accounting_adds_up_and_agrees_with_gx(spark, primary, gated, tmp_path):
    summary, _, to_quarantine = gated
    validated, quarantine, counts = split_validated(primary, to_quarantine, SUITE, {})
    validated = _written(spark, validated, tmp_path / "validated")
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")

    record = account_data_quality(primary, validated, quarantine, counts, summary, SUITE, {})
    assert (record["in"], record["kept"], record["quarantined"]) == (6, 3, 3)
    assert record["in"] == record["kept"] + record["quarantined"]
    assert record["quarantined_by_reason"] == {
        "expectation:known_origin": 1,
        "expectation:month_in_range": 2,
    }
    # known_origin's row 4 carries month_in_range's reason, yet it is checked against GX too.
    assert record["quarantined_by_expectation"] == ["month_in_range", "known_origin"]


def test_accounting_refuses_a_quarantine_that_disagrees_with_the_report(
    spark, primary, gated, tmp_path
):
    summary, _, to_quarantine = gated
    validated, quarantine, counts = split_validated(primary, to_quarantine, SUITE, {})
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")
    validated = _written(spark, validated, tmp_path / "validated")
    tampered = copy.deepcopy(summary)
    next(r for r in tampered["expectations"] if r["name"] == "known_origin")["unexpected_count"] = 3
    with pytest.raises(DataQualityError, match=r"known_origin: GX counted 3, quarantine holds 2"):
        account_data_quality(primary, validated, quarantine, counts, tampered, SUITE, {})


def test_accounting_refuses_lost_rows(spark, primary, gated, tmp_path):
    summary, _, to_quarantine = gated
    validated, quarantine, counts = split_validated(primary, to_quarantine, SUITE, {})
    validated = _written(spark, validated.filter("id != 6"), tmp_path / "validated")
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")
    with pytest.raises(RowAccountingError, match=r"6 rows in but 2 kept \+ 3 quarantined"):
        account_data_quality(primary, validated, quarantine, counts, summary, SUITE, {})


def test_without_rows_to_quarantine_everything_is_kept(spark, primary):
    validated, quarantine, _ = split_validated(primary, [], SUITE, {})
    assert validated.count() == 6
    assert quarantine.count() == 0 and quarantine.columns == [*primary.columns, "_reason"]


def test_an_override_turns_a_warning_into_a_stop(primary):
    overrides = {"known_origin": {"severity": "critical"}}
    summary, _ = validate_data_quality(primary, SUITE, overrides, PARAMS)
    with pytest.raises(DataQualityError) as raised:
        check_quality_gate(summary)
    message = str(raised.value)
    assert "1 critical expectation(s) of suite 'mini' failed" in message
    assert (
        "  - known_origin: expect_column_values_to_be_in_set on 'origin' "
        "(value_set=['EWR', 'JFK', 'LGA']): 2 unexpected values (40% of non-null); "
        "e.g. 'XXX', 'YYY' [rows quarantined]"
    ) in message


@pytest.mark.parametrize(("mostly", "stops"), [(0.6, False), (0.9, True)])
def test_a_critical_quarantine_with_mostly_moves_a_few_rows_and_stops_on_many(
    primary, mostly, stops
):
    # Month: 5 values, 2 out of range: 60 % valid.
    overrides = {"month_in_range": {"severity": "critical", "mostly": mostly}}
    summary, _ = validate_data_quality(primary, SUITE, overrides, PARAMS)
    if stops:
        with pytest.raises(DataQualityError, match=r"- month_in_range: .* 2 unexpected values"):
            check_quality_gate(summary)
    else:
        assert check_quality_gate(summary) == ["month_in_range", "known_origin"]
