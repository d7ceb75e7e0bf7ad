"""AtomicSparkDataset and AtomicJSONDataset: all-or-nothing writes, partial folders refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kedro.io import DatasetError
from kedro_datasets.spark import SparkDataset

from ml_lifecycle.datasets import AtomicJSONDataset, AtomicSparkDataset


def dataset(path: Path, **kwargs) -> AtomicSparkDataset:
    return AtomicSparkDataset(
        filepath=str(path), file_format="parquet", save_args={"mode": "overwrite"}, **kwargs
    )


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def rows(frame) -> list[tuple]:
    return sorted(tuple(r) for r in frame.collect())


def test_save_then_load_gives_the_same_rows_and_leaves_no_temporary_folder(spark, tmp_path):
    target = tmp_path / "table.parquet"
    frame = spark.createDataFrame([(1, "a"), (2, "b"), (3, None)], "id int, name string")
    dataset(target).save(frame)

    assert (target / "_SUCCESS").is_file()
    assert siblings(target) == []
    loaded = dataset(target).load()
    assert loaded.count() == 3
    assert loaded.exceptAll(frame).count() == 0 and frame.exceptAll(loaded).count() == 0
    assert dataset(target).exists()


def _jobs_while(spark, group: str, action) -> list[int]:
    context = spark.sparkContext
    context.setJobGroup(group, group)
    try:
        action()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return context.statusTracker().getJobIdsForGroup(group)


def test_a_load_takes_the_written_schema_from_the_footer_without_a_spark_job(spark, tmp_path):
    target = tmp_path / "table.parquet"
    frame = spark.createDataFrame(
        [(1, "a", 1.5, True)], "id long, name string, x double, flag boolean"
    )
    dataset(target).save(frame)
    plain = SparkDataset(filepath=str(target), file_format="parquet")
    assert _jobs_while(spark, "load-inferred", plain.load)  # Spark's inference: one job
    loaded = []
    assert _jobs_while(spark, "load-footer", lambda: loaded.append(dataset(target).load())) == []
    types = [(f.name, f.dataType) for f in frame.schema]
    assert [(f.name, f.dataType) for f in loaded[0].schema] == types
    assert [tuple(r) for r in loaded[0].collect()] == [(1, "a", 1.5, True)]


def test_a_partitioned_folder_keeps_its_partition_columns(spark, tmp_path):
    target = tmp_path / "table.parquet"
    frame = spark.createDataFrame([(1, "a"), (2, "b")], "id int, part string")
    AtomicSparkDataset(
        filepath=str(target), save_args={"mode": "overwrite", "partitionBy": ["part"]}
    ).save(frame)
    loaded = dataset(target).load()
    assert sorted(loaded.columns) == ["id", "part"]
    assert rows(loaded.select("id", "part")) == [(1, "a"), (2, "b")]


def test_overwrite_swaps_the_new_dataset_in(spark, tmp_path):
    target = tmp_path / "table.parquet"
    dataset(target).save(spark.range(10))
    old_files = {p.name for p in target.iterdir()}

    dataset(target).save(spark.range(100, 103))

    assert rows(dataset(target).load()) == [(100,), (101,), (102,)]
    assert not old_files & {p.name for p in target.iterdir() if p.name.startswith("part-")}
    assert siblings(target) == []


def test_a_folder_without_success_marker_is_refused_by_load_and_does_not_exist(spark, tmp_path):
    target = tmp_path / "table.parquet"
    spark.range(50).write.parquet(str(target))
    (target / "_SUCCESS").unlink()  # as a killed plain overwrite (or a half copy) leaves it

    with pytest.raises(DatasetError, match=r"is incomplete .* rerun the node that produces it"):
        dataset(target).load()
    assert not dataset(target).exists()


def test_an_absent_dataset_does_not_exist(tmp_path):
    assert not dataset(tmp_path / "nothing.parquet").exists()


def test_stale_temporary_folders_of_a_killed_run_are_removed_at_the_next_save(spark, tmp_path):
    target = tmp_path / "table.parquet"
    dead = 2**22 + 1  # above Linux's pid_max: no such process
    stale = [f".table.parquet.tmp-{dead}-0123", f".table.parquet.old-{dead}-0123"]
    for name in stale:
        (tmp_path / name / "_temporary").mkdir(parents=True)
        (tmp_path / name / "part-00000.parquet").write_bytes(b"half")
    # A live writer's temporary folder (another run saving right now) is left alone.
    live = tmp_path / f".table.parquet.tmp-{os.getppid()}-4567"
    live.mkdir()
    unrelated = tmp_path / ".other.parquet.tmp-1-89ab"
    unrelated.mkdir()

    dataset(target).save(spark.range(5))

    assert siblings(target) == sorted([live.name, unrelated.name])
    assert dataset(target).load().count() == 5


def test_a_failed_write_keeps_the_previous_dataset_and_removes_its_temporary_folder(
    spark, tmp_path
):
    target = tmp_path / "table.parquet"
    dataset(target).save(spark.range(7))
    failing = spark.range(1000).selectExpr("id", "IF(id = 999, raise_error('boom'), id) AS x")

    with pytest.raises(DatasetError, match="boom"):
        dataset(target).save(failing)

    assert dataset(target).load().count() == 7
    assert siblings(target) == []


def test_error_and_ignore_modes_keep_their_meaning(spark, tmp_path):
    target = tmp_path / "table.parquet"
    strict = AtomicSparkDataset(filepath=str(target), save_args={"mode": "error"})
    strict.save(spark.range(3))
    with pytest.raises(DatasetError, match="already exists"):
        strict.save(spark.range(4))
    AtomicSparkDataset(filepath=str(target), save_args={"mode": "ignore"}).save(spark.range(4))
    assert dataset(target).load().count() == 3


def test_atomic_json_replaces_the_file_and_keeps_it_when_a_write_fails(tmp_path):
    target = tmp_path / "reports" / "statistics.json"
    report = AtomicJSONDataset(filepath=str(target))
    report.save({"rows": 3, "columns": ["a", "b"]})
    assert report.load() == {"rows": 3, "columns": ["a", "b"]}

    with pytest.raises(DatasetError):
        report.save({"rows": object()})  # not serialisable: fails half-way through json.dump

    assert json.loads(target.read_text()) == {"rows": 3, "columns": ["a", "b"]}
    assert sorted(p.name for p in target.parent.iterdir()) == ["statistics.json"]
