"""The profile pipeline, run in-process after ingestion and cleaning on the tiny landing with
conf/base's cleaning: it profiles the ingested table, and its draft fits the cleaned one."""

from __future__ import annotations

import yaml
from kedro.framework.project import pipelines

from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import parse_suite
from tests.pipelines.conftest import run_stages


def test_the_profile_is_of_the_ingested_table_and_its_draft_passes_on_the_cleaned_one(
    lifecycle,
):
    cleaning = lifecycle.run("cleaning")
    out = run_stages(lifecycle.catalog, pipelines["profile"])
    profile = out["profile_report"]
    # 63 flights ingested; cleaning kept 60 and imputed two gusts in three (constant 0.0).
    accounting = cleaning["row_accounting_cleaning"]
    assert profile["rows"] == accounting["in"] == 63
    gust = profile["columns"]["wind_gust"]
    assert gust["null_count"] >= accounting["imputed"]["wind_gust"] == 40
    assert gust["min"] >= 20.0  # the raw gusts; 0.0 is cleaning's

    config = yaml.safe_load(out["starter_suite"])["expectation_suite"]
    expectations = config["expectations"]
    assert "wind_gust" in expectations["required"]["column"]
    assert expectations["wind_gust_range"]["min_value"] == 0.0  # widened to the imputed 0.0
    assert "arr_delay" in expectations["required"]["column"]  # rows without it are quarantined
    summary, _ = validate(lifecycle.load("primary_table"), parse_suite(config), example_count=2)
    assert summary["failed"] == [] and summary["success"] is True
