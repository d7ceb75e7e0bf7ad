"""The cleaning pipeline, run in-process on the ingested tiny landing with conf/base's rules."""

from __future__ import annotations

import json

from tests.pipelines.conftest import BAD_MONTH, DUPLICATE, NO_ARRIVAL

DEDUPE = "duplicate_key:year+month+day+carrier+flight+origin+sched_dep_time"


def test_cleaning_quarantines_by_rule_and_imputes_the_rest(lifecycle):
    out = lifecycle.run("cleaning")
    primary = lifecycle.load("primary_table")
    quarantine = lifecycle.load("cleaning_quarantine")

    report = out["row_accounting_cleaning"]
    assert (report["in"], report["kept"], report["quarantined"]) == (63, 60, 3)
    assert report["in"] == report["kept"] + report["quarantined"]
    assert report["quarantined_by_reason"] == {
        DEDUPE: 1,
        "missing_target:arr_delay": 1,
        "rule:valid_month": 1,
    }
    assert primary.count() == 60
    # Each stage ran alone (its own run) and wrote its own section of one row_accounting.json,
    # keeping the sections of the stages before it.
    sections = json.loads((lifecycle.root / "08_reporting/row_accounting.json").read_text())
    assert {"ingestion", "cleaning"} <= set(sections)
    assert sections["cleaning"]["in"] == sections["ingestion"]["kept"] == 63
    reasons = {r.flight: r._reason for r in quarantine.collect()}
    assert reasons == {
        100 + DUPLICATE: DEDUPE,
        NO_ARRIVAL: "missing_target:arr_delay",
        BAD_MONTH: "rule:valid_month",
    }

    # Imputed with statistics fitted on the table (less the rows without a target): two of three
    # flights had no gust (constant 0.0), one destination has no airport row (constant unknown).
    statistics = out["cleaning_statistics"]
    assert statistics["impute"]["wind_gust"] == 0.0
    assert statistics["impute"]["dest_name"] == "unknown"
    rows = primary.collect()
    assert sum(r.wind_gust == 0.0 for r in rows) == 40
    assert all(r.dest_lat is not None and r.temp is not None for r in rows)
    assert {r.dest_name for r in rows if r.dest == "x7z"} == {"unknown"}
    # wind_speed (5 to 11 mph) is within its clip bounds; nothing clipped, nothing lost.
    bounds = statistics["outliers"]["wind_speed"]
    assert bounds["lower"] <= 5.0 and bounds["upper"] >= 11.0
    assert sorted({r.wind_speed for r in rows}) == [5.0 + i for i in range(7)]
    # The accounting counts them, per column, of the 60 rows kept: 40 gusts, the five columns
    # of the destination airport that x7z lacks, nothing clipped.
    assert report["clipped"] == {"wind_speed": {"below": 0, "above": 0}}
    assert set(report["imputed"]) == set(statistics["impute"])
    imputed = {column: n for column, n in report["imputed"].items() if n}
    assert imputed == {"wind_gust": 40} | dict.fromkeys(
        ["dest_name", "dest_lat", "dest_lon", "dest_alt", "dest_tz"], 1
    )
    assert (lifecycle.root / "03_primary" / "cleaning_statistics.json").is_file()
