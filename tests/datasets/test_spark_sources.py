"""Raw sources: every kind of bad input ends as a flagged record or a clear error."""

from __future__ import annotations

import json
import logging

import pytest
from pyspark.sql import functions as F

from ml_lifecycle.core.errors import SourceError
from ml_lifecycle.datasets import JSONSectionDataset, SparkSourcesDataset
from ml_lifecycle.datasets.spark_sources import CORRUPT, SOURCE_FILE

SCHEMA = {"id": "int", "score": "double", "name": "string"}


def _load(path, fmt="csv", schema=SCHEMA, **extra):
    spec = {"filepath": str(path), "format": fmt, "schema": schema, **extra}
    return SparkSourcesDataset(sources={"src": spec}).load()["src"]


def _corrupt(df):
    return sorted(r[CORRUPT] for r in df.filter(F.col(CORRUPT).isNotNull()).collect())


def test_good_csv_is_typed_and_carries_its_file(spark, write_raw):
    path = write_raw("a.csv.gz", "id,score,name\n1,2.5,x\n2,3.5,y\n")
    df = _load(path)
    assert df.columns == ["id", "score", "name", CORRUPT, SOURCE_FILE]
    assert dict(df.dtypes)["id"] == "int" and dict(df.dtypes)["score"] == "double"
    rows = df.orderBy("id").collect()
    assert [(r.id, r.score, r.name) for r in rows] == [(1, 2.5, "x"), (2, 3.5, "y")]
    assert all(r[CORRUPT] is None and r[SOURCE_FILE].endswith("a.csv.gz") for r in rows)


def test_malformed_line_and_text_in_numeric_column_are_flagged_not_dropped(spark, write_raw):
    path = write_raw(
        "a.csv", 'id,score,name\n1,2.5,x\n2,abc,y\n3,4.0\n4,5.0,z,extra\n"5,1\n6,1.0,w\n'
    )
    df = _load(path)
    assert df.count() == 6
    assert _corrupt(df) == ['"5,1', "2,abc,y", "3,4.0", "4,5.0,z,extra"]


def test_missing_column_is_an_error_naming_source_file_and_column(spark, write_raw):
    path = write_raw("a.csv", "id,name\n1,x\n")
    with pytest.raises(SourceError) as err:
        _load(path)
    message = str(err.value)
    assert "Source 'src'" in message and "a.csv" in message and "['score']" in message


def test_extra_column_is_ignored_with_a_warning_and_rows_are_kept(spark, write_raw, caplog):
    path = write_raw("a.csv", "id,extra,score,name\n1,e,2.5,x\n2,f,3.5,y\n")
    with caplog.at_level(logging.WARNING):
        df = _load(path)
    assert "['extra']" in caplog.text
    rows = df.orderBy("id").collect()
    assert [(r.id, r.score, r.name, r[CORRUPT]) for r in rows] == [
        (1, 2.5, "x", None),
        (2, 3.5, "y", None),
    ]


def test_extra_column_can_be_refused(spark, write_raw):
    path = write_raw("a.csv", "id,extra,score,name\n1,e,2.5,x\n")
    with pytest.raises(SourceError, match=r"undeclared column\(s\) \['extra'\]"):
        _load(path, on_extra_columns="error")


def test_columns_in_another_order_are_read_by_name(spark, write_raw):
    path = write_raw("a.csv", "name,id,score\nx,1,2.5\n")
    row = _load(path).first()
    assert (row.id, row.score, row.name) == (1, 2.5, "x")


def test_wrong_delimiter_is_named_in_the_error(spark, write_raw):
    path = write_raw("a.csv", "id;score;name\n1;2.5;x\n")
    with pytest.raises(SourceError, match=r"delimited by ';', not ','"):
        _load(path)


def test_empty_and_header_only_files_add_no_rows(spark, write_raw, caplog):
    write_raw("dir/empty.csv", "")
    write_raw("dir/header_only.csv", "id,score,name\n")
    write_raw("dir/good.csv", "id,score,name\n1,2.5,x\n")
    with caplog.at_level(logging.WARNING):
        df = _load(write_raw("dir/_SUCCESS", "").parent)
    assert "empty.csv' is empty" in caplog.text
    assert df.count() == 1


def test_a_source_with_only_empty_files_is_empty_not_an_error(spark, write_raw):
    df = _load(write_raw("empty.csv", ""))
    assert df.count() == 0 and df.columns[:3] == ["id", "score", "name"]


def test_missing_path_is_a_clear_error(spark, tmp_path):
    with pytest.raises(SourceError, match=r"Source 'src': no files at .*Put the raw data there"):
        _load(tmp_path / "nowhere.csv")


def test_nan_and_infinity_parse_as_floats(spark, write_raw):
    df = _load(write_raw("a.csv", "id,score,name\n1,NaN,x\n2,Inf,y\n3,-Inf,z\n"))
    scores = [r.score for r in df.orderBy("id").collect()]
    assert scores[0] != scores[0] and scores[1:] == [float("inf"), float("-inf")]
    assert _corrupt(df) == []


def test_json_lines_flag_malformed_records(spark, write_raw):
    lines = ['{"id": 1, "score": 2.5, "name": "x"}', "{not json", '{"id": "two", "score": 1}']
    df = _load(write_raw("a.jsonl", "\n".join(lines) + "\n"), fmt="json")
    assert df.count() == 3
    assert set(_corrupt(df)) == {"{not json", '{"id": "two", "score": 1}'}


def test_parquet_checks_columns_and_flags_values_that_do_not_cast(spark, tmp_path):
    path = tmp_path / "p.parquet"
    spark.createDataFrame(
        [("1", 2.5, "x"), ("two", 3.5, "y")], "id string, score double, name string"
    ).write.parquet(str(path))
    df = _load(path, fmt="parquet")
    rows = df.orderBy(F.col(CORRUPT).isNotNull()).collect()
    assert rows[0].id == 1 and rows[0][CORRUPT] is None
    assert rows[1].id is None and json.loads(rows[1][CORRUPT])["id"] == "two"
    with pytest.raises(SourceError, match=r"\['missing'\]"):
        _load(path, fmt="parquet", schema={**SCHEMA, "missing": "int"})


def test_json_section_dataset_merges_sections_atomically(tmp_path):
    path = tmp_path / "report.json"
    JSONSectionDataset(str(path), "a").save({"in": 1})
    JSONSectionDataset(str(path), "b").save({"in": 2})
    JSONSectionDataset(str(path), "a").save({"in": 3})
    assert json.loads(path.read_text()) == {"a": {"in": 3}, "b": {"in": 2}}
    assert JSONSectionDataset(str(path), "b").load() == {"in": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
