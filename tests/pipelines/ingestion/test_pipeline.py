"""The ingestion pipeline, run in-process on the tiny landing with conf/base's joins."""

from __future__ import annotations

from pyspark.sql import functions as F

from tests.pipelines.conftest import BAD_DEST, GOOD_FLIGHTS, HOT, MALFORMED

# 60 good flights, 3 that cleaning quarantines, 1 line that does not parse.
FLIGHT_RECORDS = GOOD_FLIGHTS + 3 + 1


def test_ingestion_joins_every_lookup_and_quarantines_what_does_not_parse(lifecycle):
    out = lifecycle.run("ingestion")
    table = lifecycle.load("intermediate_table")
    quarantine = lifecycle.load("ingestion_quarantine")

    report = out["row_accounting_ingestion"]
    assert (report["in"], report["kept"], report["quarantined"]) == (FLIGHT_RECORDS, 63, 1)
    assert report["quarantined_by_reason"] == {"malformed_record": 1}
    # The first flight's hour has two weather readings: one joins, the other is set aside.
    assert report["sources"]["weather"] == {
        "in": GOOD_FLIGHTS + 1,
        "kept": GOOD_FLIGHTS,
        "quarantined": 1,
        "quarantined_by_reason": {"duplicate_join_key:origin+time_hour": 1},
    }
    assert table.count() == report["kept"]
    assert quarantine.count() == 2
    bad = quarantine.filter(F.col("reason") == "malformed_record").collect()
    assert [(r.source, r.record) for r in bad] == [("flights", MALFORMED)]

    rows = {(r.flight, r.month): r for r in table.collect()}
    hot, first = rows[(100 + HOT, HOT + 1)], rows[(100, 1)]
    assert hot.temp == 200.0 and first.temp == 41.0
    assert first.airline_name == "AA Airlines" and first.plane_seats == 50
    assert first.dest_name == "ATL Intl" and first.route == "EWR-ATL"
    assert first.sched_dep_hour == 5 and str(first.flight_date) == "2013-01-01"
    # A destination with no airport row keeps its flight (a left join), with nulls to impute.
    assert rows[(100 + BAD_DEST, BAD_DEST + 1)].dest_name is None
    assert (lifecycle.root / "02_intermediate" / "table.parquet" / "_SUCCESS").is_file()
