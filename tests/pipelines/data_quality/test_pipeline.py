"""The data-quality pipeline, run in-process on the cleaned tiny landing with conf/base's suite."""

from __future__ import annotations

import pytest
from kedro.io import MemoryDataset
from pyspark.sql import functions as F

from ml_lifecycle.pipelines import data_quality
from ml_lifecycle.pipelines.data_quality.gate import DataQualityError
from tests.pipelines.conftest import (
    BAD_DEST,
    HOT,
    project_catalog,
    run_stages,
)


def test_the_suite_passes_and_its_quarantining_warnings_take_their_rows_out(lifecycle):
    out = lifecycle.run("data_quality")
    summary = out["data_quality_summary"]
    assert summary["success"] is False and summary["passed_gate"] is True
    assert summary["rows"] == 60
    failed = {r["name"] for r in summary["expectations"] if not r["success"]}
    assert failed == {"dest_is_iata", "plausible_temp_f"}
    assert all(r["severity"] == "warning" for r in summary["expectations"] if not r["success"])
    critical = [r for r in summary["expectations"] if r["severity"] == "critical"]
    assert critical and all(r["success"] for r in critical)
    quarantining = [r["name"] for r in summary["expectations"] if r["quarantine"]]
    assert {"dest_is_iata", "plausible_temp_f"} <= set(quarantining)

    report = out["row_accounting_data_quality"]
    assert (report["in"], report["kept"], report["quarantined"]) == (60, 58, 2)
    assert report["quarantined_by_reason"] == {
        "expectation:dest_is_iata": 1,
        "expectation:plausible_temp_f": 1,
    }
    quarantine = {r.flight: r._reason for r in lifecycle.load("data_quality_quarantine").collect()}
    assert quarantine == {
        100 + BAD_DEST: "expectation:dest_is_iata",
        100 + HOT: "expectation:plausible_temp_f",
    }
    validated = lifecycle.load("validated_table")
    assert validated.count() == 58
    assert not {100 + BAD_DEST, 100 + HOT} & {r.flight for r in validated.collect()}
    assert "index.html" in out["data_quality_docs"]


def test_a_failing_critical_expectation_stops_the_run_before_the_validated_table(
    lifecycle, tmp_path
):
    lifecycle.run("cleaning")
    # The cleaned tiny landing, one arrival 2,000 minutes late (plausible_arr_delay: at most
    # 1,800), as an in-memory primary table of a catalog whose outputs go to tmp_path.
    late = F.col("flight") == 111
    primary = lifecycle.load("primary_table").withColumn(
        "arr_delay", F.when(late, F.lit(2000.0)).otherwise(F.col("arr_delay"))
    )
    # conf/base's row count is the full sample's (300,000 to 400,000): 60 rows fail it too.
    catalog = project_catalog(tmp_path)
    catalog["primary_table"] = MemoryDataset(primary)

    with pytest.raises(DataQualityError) as raised:
        run_stages(catalog, data_quality.create_pipeline())
    message = str(raised.value)
    assert "2 critical expectation(s) of suite 'flights' failed" in message
    assert "plausible_arr_delay: expect_column_values_to_be_between on 'arr_delay'" in message
    assert "e.g. 2000.0" in message
    assert "row_count: expect_table_row_count_to_be_between" in message
    assert "observed 60" in message

    # The summary (and its docs) were written before the gate stopped the run; nothing after.
    summary = catalog.load("data_quality_summary")
    assert summary["passed_gate"] is False
    failed = {r["name"]: r["severity"] for r in summary["expectations"] if not r["success"]}
    assert failed == {
        "plausible_arr_delay": "critical",
        "row_count": "critical",
        "dest_is_iata": "warning",
        "plausible_temp_f": "warning",
    }
    assert not (tmp_path / "03_primary").exists()
    assert not catalog.exists("row_accounting_data_quality")
