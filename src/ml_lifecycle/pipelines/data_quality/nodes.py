"""Data-quality nodes: validate with GX, stop on critical failures, quarantine offending rows.

The report and the quarantine come from the same suite entry: GX counts an expectation's
unexpected rows, the entry's Spark predicate selects them, and `account_data_quality` proves the
two agree, row for row, from what was written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.params import parse
from ml_lifecycle.core.quarantine import StageCounts, account_stage, written_rows
from ml_lifecycle.core.spark import col, first_reason
from ml_lifecycle.pipelines.data_quality.gate import DataQualityError, enforce
from ml_lifecycle.pipelines.data_quality.params import DataQualityParams
from ml_lifecycle.pipelines.data_quality.runner import validate
from ml_lifecycle.pipelines.data_quality.suite import Suite, parse_suite, with_derived


def _suite(config: dict[str, Any], overrides: dict[str, Any] | None) -> Suite:
    return parse_suite(config, overrides, where=str(config.get("name", "suite")))


def _reason(name: str) -> str:
    return f"expectation:{name}"


def validate_data_quality(
    primary: DataFrame,
    suite_config: dict[str, Any],
    overrides: dict[str, Any] | None,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Returns (the validation summary, the Data Docs files) of the suite on `primary`."""
    params = parse(DataQualityParams, params, "data_quality")
    suite = _suite(suite_config, overrides)
    summary, docs = validate(
        primary, suite, example_count=params.example_values, cache=params.cache
    )
    summary["validated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return summary, docs


def check_quality_gate(summary: dict[str, Any]) -> list[str]:
    """Returns the quarantining expectations that found rows; raises on a critical failure."""
    return enforce(summary)


def _violations(suite: Suite, names: list[str]) -> list[tuple[Column, str]]:
    return [(suite.get(name).unexpected(), _reason(name)) for name in names]


def split_validated(
    primary: DataFrame,
    to_quarantine: list[str],
    suite_config: dict[str, Any],
    overrides: dict[str, Any] | None,
) -> tuple[DataFrame, DataFrame, StageCounts]:
    """Returns (rows that pass, rows quarantined with the first failed expectation as `_reason`,
    the rows of both as Spark counts them while writing)."""
    columns = primary.columns
    counts = StageCounts()
    if not to_quarantine:
        empty = primary.limit(0).withColumn(REASON, F.lit(None).cast("string"))
        return counts.rows(primary, "kept"), counts.by_reason(empty, "quarantined", []), counts
    suite = _suite(suite_config, overrides)
    df = with_derived(primary, suite)
    df = df.withColumn(REASON, first_reason(_violations(suite, to_quarantine)))
    # Both outputs read this one evaluation of the predicates.
    df = df.select(*[col(c) for c in columns], REASON).persist(StorageLevel.MEMORY_AND_DISK)
    validated = counts.rows(df.filter(F.col(REASON).isNull()).drop(REASON), "kept")
    reasons = [_reason(name) for name in to_quarantine]
    quarantine = counts.by_reason(df.filter(F.col(REASON).isNotNull()), "quarantined", reasons)
    return validated, quarantine, counts


def account_data_quality(  # noqa: PLR0913 - the stage's outputs and the suite that made them
    primary: DataFrame,
    validated: DataFrame,
    quarantine: DataFrame,
    counts: StageCounts,
    summary: dict[str, Any],
    suite_config: dict[str, Any],
    overrides: dict[str, Any] | None,
) -> dict[str, Any]:
    """Returns the stage's row accounting; raises if rows went missing or disagree with GX.

    Rows in and out come from the Parquet footers of the three tables and must agree with what
    Spark counted while it wrote them.
    """
    record = account_stage(
        "data_quality",
        written_rows(primary),
        validated,
        counts.get("kept"),
        quarantine,
        counts.get("quarantined"),
    )
    suite = _suite(suite_config, overrides)
    # Every quarantining expectation that found rows, even one whose rows all carry another
    # expectation's reason (a row gets the first reason it fails).
    applied = [r for r in summary["expectations"] if r["quarantine"] and r["unexpected_count"]]
    if applied:
        # Every row an applied predicate selects is in the quarantine (whatever its first reason),
        # so counting each predicate there must give exactly GX's unexpected count.
        df = with_derived(quarantine, suite)
        sums = [
            F.sum(suite.get(r["name"]).unexpected().cast("long")).alias(str(i))
            for i, r in enumerate(applied)
        ]
        counted = df.agg(*sums).first()
        disagree = [
            f"{r['name']}: GX counted {r['unexpected_count']:,}, quarantine holds {counted[i]:,}"
            for i, r in enumerate(applied)
            if counted[i] != r["unexpected_count"]
        ]
        if disagree:
            raise DataQualityError(
                "data_quality: the quarantine disagrees with the report: " + "; ".join(disagree)
            )
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "suite": summary["suite"],
        "quarantined_by_expectation": [r["name"] for r in applied],
        **record,
    }
