"""Ingestion: malformed records quarantined, lookups made unique, joins never multiply rows."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from ml_lifecycle.core.errors import ConfigError, RowAccountingError
from ml_lifecycle.datasets import SparkSourcesDataset
from ml_lifecycle.pipelines.ingestion.nodes import account_ingestion, ingest

FLIGHTS = (
    (
        b"id,origin,hour,carrier,delay\n"
        b"1,EWR,5,AA,10.0\n"
        b"2,EWR,6,AA,-3.0\n"
        b"3,JFK,5,UA,0.0\n"
        b"4,JFK,5,ZZ,7.5\n"
        b"5,LGA,9,UA,1.0\n"
        b"6,EWR,five,AA,1.0\n"
    )
    + b"7,EWR,5,AA,2.0,\n"
    + b"8,EWR,5,A\xff,2.0\n"
)
WEATHER = "origin,hour,temp\nEWR,5,40.0\nEWR,5,41.0\nEWR,6,42.0\nJFK,5,50.0\n,5,1.0\n"
AIRLINES = "carrier,name\nAA,American\nUA,United\n"

PARAMS = {
    "main_source": "flights",
    "joins": [
        {"source": "weather", "keys": {"origin": "origin", "hour": "hour"}, "columns": ["temp"]},
        {"source": "airlines", "keys": {"carrier": "carrier"}, "columns": {"name": "airline"}},
    ],
    "derived": {"part_of_day": "hour DIV 6", "late": "delay > 5"},
}


@pytest.fixture
def raw_sources(spark, write_raw):
    def spec(name, content, schema):
        return {"filepath": str(write_raw(name, content)), "format": "csv", "schema": schema}

    return SparkSourcesDataset(
        sources={
            "flights": spec(
                "flights.csv",
                FLIGHTS,
                {
                    "id": "int",
                    "origin": "string",
                    "hour": "int",
                    "carrier": "string",
                    "delay": "double",
                },
            ),
            "weather": spec(
                "weather.csv", WEATHER, {"origin": "string", "hour": "int", "temp": "double"}
            ),
            "airlines": spec("airlines.csv", AIRLINES, {"carrier": "string", "name": "string"}),
        }
    ).load()


def _written(spark, df, path):
    df.write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def test_ingest_quarantines_bad_records_and_never_multiplies_rows(spark, raw_sources, tmp_path):
    intermediate, quarantine, counts = ingest(raw_sources, PARAMS)
    intermediate = _written(spark, intermediate, tmp_path / "i")
    quarantine = _written(spark, quarantine, tmp_path / "q")

    rows = {r.id: r for r in intermediate.collect()}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    # EWR 05:00 has two weather rows: the first by value (40.0) is kept, the other quarantined.
    assert rows[1].temp == 40.0 and rows[2].temp == 42.0 and rows[5].temp is None
    assert rows[1].airline == "American" and rows[4].airline is None
    assert rows[1].part_of_day == 0 and rows[5].part_of_day == 1 and rows[1].late is True
    assert intermediate.columns == [
        "id",
        "origin",
        "hour",
        "carrier",
        "delay",
        "temp",
        "airline",
        "part_of_day",
        "late",
    ]

    reasons = sorted((r.source, r.reason) for r in quarantine.collect())
    assert reasons == [
        ("flights", "invalid_utf8"),
        ("flights", "malformed_record"),
        ("flights", "malformed_record"),
        ("weather", "duplicate_join_key:origin+hour"),
        ("weather", "missing_join_key:origin+hour"),
    ]
    raw = sorted(
        r.record for r in quarantine.filter(F.col("reason") == "malformed_record").collect()
    )
    assert raw == ["6,EWR,five,AA,1.0", "7,EWR,5,AA,2.0,"]
    assert all(r.source_file.endswith(".csv") for r in quarantine.collect())

    report = account_ingestion(counts, intermediate, quarantine, PARAMS)
    assert (report["in"], report["kept"], report["quarantined"]) == (8, 5, 3)
    assert report["quarantined_by_reason"] == {"invalid_utf8": 1, "malformed_record": 2}
    assert report["sources"]["weather"] == {
        "in": 5,
        "kept": 3,
        "quarantined": 2,
        "quarantined_by_reason": {
            "duplicate_join_key:origin+hour": 1,
            "missing_join_key:origin+hour": 1,
        },
    }


def test_accounting_refuses_outputs_that_do_not_add_up(spark, raw_sources, tmp_path):
    intermediate, quarantine, counts = ingest(raw_sources, PARAMS)
    doubled = _written(spark, intermediate.unionByName(intermediate), tmp_path / "i")
    quarantine = _written(spark, quarantine, tmp_path / "q")
    with pytest.raises(
        RowAccountingError, match=r"ingestion/flights: 8 rows in but 10 kept .*multiplied"
    ):
        account_ingestion(counts, doubled, quarantine, PARAMS)


def test_inner_join_quarantines_unmatched_rows(spark, raw_sources):
    params = {**PARAMS, "joins": [{**PARAMS["joins"][1], "how": "inner"}], "derived": {}}
    intermediate, quarantine, _ = ingest(raw_sources, params)
    assert sorted(r.id for r in intermediate.collect()) == [1, 2, 3, 5]
    unmatched = quarantine.filter(F.col("reason") == "unmatched:airlines").collect()
    assert [r.record for r in unmatched] == [
        '{"id":4,"origin":"JFK","hour":5,"carrier":"ZZ","delay":7.5}'
    ]


def test_a_typo_in_a_join_column_names_the_join_and_suggests_the_column(raw_sources):
    params = {**PARAMS, "joins": [{**PARAMS["joins"][0], "columns": ["tmp"]}]}
    with pytest.raises(
        ConfigError,
        match=r"joins\[0\] \(weather\): column 'tmp' does not exist. Did you mean 'temp'\?",
    ):
        ingest(raw_sources, params)


def test_an_invalid_derived_expression_names_the_column(raw_sources):
    params = {**PARAMS, "derived": {"bad": "hour +* 2"}}
    with pytest.raises(
        ConfigError, match=r"ingestion.derived.bad: the expression 'hour \+\* 2' is invalid"
    ):
        ingest(raw_sources, params)


def test_unknown_main_source_is_a_config_error(raw_sources):
    with pytest.raises(ConfigError, match=r"main_source: 'flight' is not a declared source"):
        ingest(raw_sources, {**PARAMS, "main_source": "flight"})


def test_a_derived_column_naming_a_missing_column_is_one_sentence(raw_sources, capfd):
    params = {**PARAMS, "derived": {"age": "2024 - year"}}
    with pytest.raises(ConfigError) as error:
        ingest(raw_sources, params)
    message = str(error.value)
    assert message.startswith("ingestion.derived.age: the expression '2024 - year' is invalid: ")
    assert "Spark cannot resolve the column 'year'" in message
    assert "'airline'" in message and "'temp'" in message  # the columns it could use
    assert "_reason" not in message and "_matched" not in message  # not the internal ones
    assert "\n" not in message and "java" not in message.lower()
    assert "org.apache" not in message and "SQLSTATE" not in message
    assert error.value.__suppress_context__  # raised `from None`: no Spark traceback under it
    # PySpark's own log of the error (its Java stack trace) stays off the terminal.
    captured = capfd.readouterr()
    assert "org.apache" not in captured.err + captured.out


def test_a_close_column_is_suggested(raw_sources):
    with pytest.raises(ConfigError, match=r"column 'delai'\. Did you mean 'delay'\?"):
        ingest(raw_sources, {**PARAMS, "derived": {"late": "delai > 5"}})


def test_a_type_mismatch_in_a_derived_column_is_one_sentence(raw_sources):
    with pytest.raises(ConfigError) as error:
        ingest(raw_sources, {**PARAMS, "derived": {"odd": "hour < to_timestamp('2013-01-01')"}})
    message = str(error.value)
    assert message.startswith("ingestion.derived.odd: the expression")
    assert "DATATYPE_MISMATCH" in message and "\n" not in message and "org.apache" not in message


def test_derived_columns_are_evaluated_in_order(spark, raw_sources):
    params = {**PARAMS, "derived": {"double_hour": "hour * 2", "quad_hour": "double_hour * 2"}}
    intermediate, _, _ = ingest(raw_sources, params)
    rows = {r["id"]: (r["hour"], r["double_hour"], r["quad_hour"]) for r in intermediate.collect()}
    assert rows[1] == (5, 10, 20) and rows[2] == (6, 12, 24)
    assert intermediate.columns[-2:] == ["double_hour", "quad_hour"]


def test_a_typo_in_a_join_order_by_names_the_key(raw_sources):
    joins = [{**PARAMS["joins"][0], "order_by": ["tmp"]}]
    with pytest.raises(
        ConfigError,
        match=r"ingestion.joins\[0\].order_by: column 'tmp' does not exist. Did you mean 'temp'\?",
    ):
        ingest(raw_sources, {**PARAMS, "joins": joins})
