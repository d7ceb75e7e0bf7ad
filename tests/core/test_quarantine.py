"""Row accounting from observed metrics and Parquet footers: a stage that loses rows is caught."""

import pytest
from pyspark.sql import functions as F

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.errors import RowAccountingError
from ml_lifecycle.core.quarantine import (
    StageCounts,
    _parquet_files,
    account_stage,
    written_rows,
)

REASONS = ["too_small", "too_large"]


def _stage(rows, bug=None):
    """A stage: tags rows outside [2, 7], counts both outputs; `bug` changes the kept rows after
    the count is taken, as a faulty transformation between the check and the write would."""
    tagged = rows.withColumn(
        REASON,
        F.when(F.col("id") < 2, "too_small").when(F.col("id") > 7, "too_large"),
    )
    counts = StageCounts()
    kept = counts.rows(tagged.filter(F.col(REASON).isNull()).drop(REASON), "kept")
    quarantine = counts.by_reason(tagged.filter(F.col(REASON).isNotNull()), "quarantined", REASONS)
    return (bug(kept) if bug else kept), quarantine, counts


def _written(spark, df, path):
    df.write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def _account(spark, tmp_path, bug=None):
    rows = _written(spark, spark.range(10), tmp_path / "in")
    kept, quarantine, counts = _stage(rows, bug)
    kept = _written(spark, kept, tmp_path / "kept")
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")
    args = (kept, counts.get("kept"), quarantine, counts.get("quarantined"))
    return counts, lambda: account_stage("stage", written_rows(rows), *args)


def test_counts_come_from_the_write_and_add_up(spark, tmp_path):
    counts, account = _account(spark, tmp_path)
    assert counts.get("kept") == {"rows": 6, "by_reason": {}, "observed": True}
    assert counts.get("quarantined") == {
        "rows": 4, "by_reason": {"too_small": 2, "too_large": 2}, "observed": True
    }  # fmt: skip
    record = account()
    assert (record["in"], record["kept"], record["quarantined"]) == (10, 6, 4)
    assert record["quarantined_by_reason"] == {"too_large": 2, "too_small": 2}


def test_a_stage_that_drops_rows_after_its_checks_is_caught(spark, tmp_path):
    _, account = _account(spark, tmp_path, bug=lambda kept: kept.filter(F.col("id") != 3))
    with pytest.raises(RowAccountingError, match=r"10 rows in but 5 kept \+ 4 .* lost"):
        account()


def test_a_stage_that_multiplies_rows_is_caught(spark, tmp_path):
    _, account = _account(spark, tmp_path, bug=lambda kept: kept.unionByName(kept.limit(1)))
    with pytest.raises(RowAccountingError, match=r"10 rows in but 7 kept .* multiplied"):
        account()


def test_a_count_that_disagrees_with_the_written_files_is_caught(spark, tmp_path):
    rows = _written(spark, spark.range(10), tmp_path / "in")
    kept, quarantine, counts = _stage(rows)
    kept = _written(spark, kept, tmp_path / "kept")
    quarantine = _written(spark, quarantine, tmp_path / "quarantine")
    # The books balance by footers, yet Spark saw another number of rows go out.
    tampered = {**counts.get("kept"), "rows": 5}
    with pytest.raises(RowAccountingError, match="Spark counted 5 kept rows while writing"):
        account_stage(
            "stage", written_rows(rows), kept, tampered, quarantine, counts.get("quarantined")
        )


def test_a_reason_the_stage_did_not_list_is_still_counted(spark, tmp_path):
    counts = StageCounts()
    df = counts.by_reason(spark.createDataFrame([("a",), ("b",), ("b",)], [REASON]), "q", ["a"])
    df.write.mode("overwrite").parquet(str(tmp_path / "q"))
    assert counts.get("q")["by_reason"] == {"a": 1, "unlisted:q": 2}


def test_footers_give_the_written_rows_and_a_derived_frame_is_counted(spark, tmp_path):
    table = _written(spark, spark.range(0, 1000, numPartitions=4), tmp_path / "t")
    assert written_rows(table) == 1000
    assert len(_parquet_files(table)) == 4  # read from the four files' footers, not counted
    assert written_rows(table.filter(F.col("id") < 10)) == 10  # not a bare read: counted


def test_an_output_never_written_is_counted_not_waited_for(spark):
    counts = StageCounts()
    counts.rows(spark.range(3), "kept")
    assert counts.get("kept") == {"rows": 3, "by_reason": {}, "observed": False}
