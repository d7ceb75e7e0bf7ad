"""End to end: the data-quality gate and the profile pipeline in `kedro run` on the test slice."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
import yaml

from ml_lifecycle.pipelines.data_quality.gate import enforce
from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import parse_suite
from tests.test_run import ROOT, accounting, copy_lifecycle, kedro_run

pytestmark = pytest.mark.e2e

SLICE = ROOT / "data/01_raw/nycflights13_slice/flights.csv.gz"
REPORTS = Path("08_reporting/data_quality")


def _output(result) -> str:
    return result.stdout[-4000:] + result.stderr[-4000:]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, lifecycle_snapshot):
    """The clean slice through the lifecycle (a copy of its data folder), then `profile`."""
    data_dir, _ = copy_lifecycle(lifecycle_snapshot, tmp_path_factory.mktemp("clean"))
    result = kedro_run("--pipelines", "profile", params={"data_dir": str(data_dir)})
    return data_dir, result


def test_the_clean_slice_passes_the_gate_and_writes_both_reports(spark, clean_run):
    data_dir, result = clean_run
    assert result.returncode == 0, _output(result)

    summary = json.loads((data_dir / REPORTS / "summary.json").read_text())
    assert summary["suite"] == "flights" and summary["passed_gate"] is True
    assert summary["rows"] == 3274 and summary["evaluated"] == 31
    critical = [r for r in summary["expectations"] if r["severity"] == "critical"]
    assert critical and all(r["success"] for r in critical)
    for record in summary["expectations"]:
        assert {"name", "success", "unexpected_count", "unexpected_percent", "severity"} <= set(
            record
        )
    index = data_dir / REPORTS / "data_docs/index.html"
    assert index.read_text().lstrip().lower().startswith("<!doctype html")
    assert list((data_dir / REPORTS / "data_docs/validations/flights").rglob("*.html"))

    record = accounting(data_dir)["data_quality"]
    assert (record["in"], record["kept"], record["quarantined"]) == (3274, 3274, 0)
    validated = spark.read.parquet(str(data_dir / "03_primary/validated/table.parquet"))
    assert validated.count() == record["kept"]


def test_a_quarantining_expectation_moves_its_rows_and_the_run_goes_on(spark, clean_run):
    data_dir, gated = clean_run
    assert gated.returncode == 0, _output(gated)
    # Tighten one warning on the clean data at run time: its rows leave, the rest goes on.
    result = kedro_run(
        "--pipeline",
        "data_quality",
        params={
            "data_dir": str(data_dir),
            "data_quality_overrides.plausible_temp_f.max_value": "50",
        },
    )
    assert result.returncode == 0, _output(result)

    primary = spark.read.parquet(str(data_dir / "03_primary/table.parquet"))
    hot = primary.filter("temp > 50").count()
    assert hot > 0
    record = accounting(data_dir)["data_quality"]
    assert (record["in"], record["kept"], record["quarantined"]) == (3274, 3274 - hot, hot)
    assert record["quarantined_by_reason"] == {"expectation:plausible_temp_f": hot}
    quarantine = spark.read.parquet(str(data_dir / "03_primary/quarantine/data_quality.parquet"))
    assert quarantine.filter("temp <= 50").count() == 0 and quarantine.count() == hot
    summary = json.loads((data_dir / REPORTS / "summary.json").read_text())
    temp = next(r for r in summary["expectations"] if r["name"] == "plausible_temp_f")
    assert (temp["success"], temp["unexpected_count"]) == (False, hot)


def test_the_unedited_starter_suite_passes_on_the_data_it_came_from(spark, clean_run):
    data_dir, result = clean_run
    assert result.returncode == 0, _output(result)

    text = (data_dir / "08_reporting/profile/expectation_suite.yml").read_text()
    suite = parse_suite(yaml.safe_load(text)["expectation_suite"], where="starter")
    profile = json.loads((data_dir / "08_reporting/profile/profile.json").read_text())
    # The profile is of the ingested table, before cleaning sets rows aside.
    assert profile["rows"] == accounting(data_dir)["ingestion"]["kept"] == 3368
    assert "origin" in profile["columns"]
    kinds = {e.type for e in suite.expectations}
    assert {
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    } <= kinds
    assert suite.get("origin_values").kwargs["value_set"] == ["EWR", "JFK", "LGA"]

    primary = spark.read.parquet(str(data_dir / "03_primary/table.parquet"))
    summary, _ = validate(primary, suite, example_count=3)
    assert summary["failed"] == [], summary["failed"]
    assert enforce(summary) == []


def _corrupt(rows: list[list[str]], header: list[str]) -> list[list[str]]:
    at = {name: i for i, name in enumerate(header)}
    for i, row in enumerate(rows):
        if i < 10:
            row[at["hour"]] = "25"  # cleaning has no rule for `hour`
        elif i < 15 and row[at["arr_delay"]]:
            row[at["arr_delay"]] = "4000.0"  # a target no flight has
        elif i < 20:
            row[at["carrier"]] = "ZZ"  # an unknown carrier: a warning, its rows kept
    return rows


def test_a_corrupted_sample_stops_the_run_naming_the_critical_failures(tmp_path):
    with gzip.open(SLICE, "rt", newline="") as f:
        header, *rows = list(csv.reader(f))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *_corrupt(rows, header)])
    corrupted = tmp_path / "flights.csv.gz"
    corrupted.write_bytes(gzip.compress(out.getvalue().encode()))

    result = kedro_run(
        "--pipelines",
        "ingestion,cleaning,data_quality",
        params={"data_dir": str(tmp_path / "data"), "flights_path": str(corrupted)},
    )
    assert result.returncode != 0
    error = " ".join(result.stderr.split())
    assert "DataQualityError" in error
    assert "2 critical expectation(s) of suite 'flights' failed" in error
    assert (
        "- hour_in_range: expect_column_values_to_be_between on 'hour' (min_value=0, max_value=23):"
        " 10 unexpected values" in error
    )
    assert "e.g. 25" in error
    assert "- plausible_arr_delay: expect_column_values_to_be_between on 'arr_delay'" in error
    assert "e.g. 4000.0" in error
    assert "- known_carrier" not in error  # a warning does not stop the run

    summary = json.loads((tmp_path / "data" / REPORTS / "summary.json").read_text())
    assert summary["passed_gate"] is False
    assert {"hour_in_range", "plausible_arr_delay", "known_carrier"} <= set(summary["failed"])
    assert (tmp_path / "data" / REPORTS / "data_docs/index.html").exists()
    assert not (tmp_path / "data/03_primary/validated").exists()
