"""Validate a Spark DataFrame with GX Core through its Spark data source, and render Data Docs.

Speed: GX bundles every aggregate metric of one dependency level into a single `df.agg` per
domain, so a suite of counts, ranges, sets and means costs a few passes over the data, not one
per expectation: the row count (from Parquet footers when nothing is cached), the column
aggregates (mean, distinct count), then every unexpected count at once. What makes it slow is
asking for example rows (each a `filter().limit()` scan of the whole table when nothing fails),
window-based uniqueness, and GX's own `persist()` of the batch (a full copy in memory before the
first metric). So the validation asks GX for counts only (BASIC, no partial lists), turns GX's
persist off (caching is ours to choose: `cache`), reads only the suite's columns, and fetches
example values afterwards, for the failing expectations only, from the same predicate that
quarantines their rows.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ml_lifecycle.core.spark import col
from ml_lifecycle.pipelines.data_quality.suite import (
    UNIQUENESS,
    Expectation,
    Suite,
    gx,
    prepare,
    with_derived_checked,
)

logger = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
DOCS_SITE = "data_docs"
JOB_GROUP = "data_quality"


def _context(docs_dir: Path) -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        DOCS_SITE,
        {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def _observed(result: dict[str, Any]) -> Any:
    value = result.get("observed_value")
    return round(value, 6) if isinstance(value, float) else value


def _record(exp: Expectation, gx_result: Any) -> dict[str, Any]:
    result = gx_result.result or {}
    percent = result.get("unexpected_percent")
    record = {
        "name": exp.name,
        "type": exp.type,
        "columns": exp.columns,
        "kwargs": {k: v for k, v in exp.kwargs.items() if k not in ("column", "column_list")},
        "severity": exp.severity,
        "quarantine": exp.quarantine,
        "success": bool(gx_result.success),
        "unexpected_count": result.get("unexpected_count"),
        "unexpected_percent": None if percent is None else round(percent, 6),
        "observed_value": _observed(result),
        "examples": [],
    }
    if gx_result.exception_info and gx_result.exception_info.get("raised_exception"):
        record["error"] = gx_result.exception_info.get("exception_message")
    return record


def example_values(df: DataFrame, exp: Expectation, count: int) -> list[Any]:
    """Returns up to `count` distinct offending values of a failed expectation (not whole rows)."""
    if count <= 0:
        return []
    if exp.row_level:
        # A bounded sample of offending values, de-duplicated here: `distinct()` would scan it all.
        rows = df.filter(exp.unexpected()).select(col(exp.kwargs["column"])).limit(count * 20)
        values = list(dict.fromkeys(_hashable(row[0]) for row in rows.collect()))
        return values[:count]
    if exp.type in UNIQUENESS:
        keys = exp.kwargs[UNIQUENESS[exp.type]]
        keys = [keys] if isinstance(keys, str) else list(keys)
        repeated = (
            df.groupBy(*[col(k) for k in keys])
            .count()
            .filter(F.col("count") > 1)
            .orderBy(F.col("count").desc())
            .limit(count)
        )
        return [
            {"key": {k: row[k] for k in keys}, "rows": row["count"]} for row in repeated.collect()
        ]
    return []


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@contextmanager
def _job_group(spark: SparkSession, description: str) -> Iterator[None]:
    """Tags the Spark jobs launched inside with JOB_GROUP (not available on Spark Connect)."""
    try:
        context = spark.sparkContext
    except Exception:  # Spark Connect has no SparkContext: nothing to tag
        yield
        return
    context.setJobGroup(JOB_GROUP, description)
    try:
        yield
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)


def _checkpoint(context: Any, suite: Suite, result_format: Any, persist: bool) -> Any:
    asset = context.data_sources.add_spark(name="spark", persist=persist).add_dataframe_asset(
        suite.name
    )
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_dataframe")
    gx_suite = context.suites.add(
        gx.ExpectationSuite(name=suite.name, expectations=[e.to_gx() for e in suite.expectations])
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
    )
    return context.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format=result_format,
        )
    )


def validate(
    df: DataFrame,
    suite: Suite,
    example_count: int = 5,
    cache: bool = False,
    result_format: dict[str, Any] | str | None = None,
    suite_columns_only: bool = True,
    gx_persist: bool = False,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Returns (the validation summary, the Data Docs files by relative path) of `suite` on `df`.

    `cache` persists the suite's columns for GX's passes; `result_format`, `suite_columns_only`
    and `gx_persist` exist to measure GX's defaults against this set-up (benchmarks/validate.py).
    """
    # Raises ConfigError before any Spark job runs.
    data = prepare(df, suite) if suite_columns_only else with_derived_checked(df, suite)
    if cache:
        data = data.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with (
            _job_group(df.sparkSession, f"validate suite {suite.name}"),
            tempfile.TemporaryDirectory(prefix="gx_docs_") as tmp,
        ):
            docs_dir = Path(tmp)
            checkpoint = _checkpoint(
                _context(docs_dir), suite, result_format or RESULT_FORMAT, gx_persist
            )
            run = checkpoint.run(batch_parameters={"dataframe": data})
            (result,) = run.run_results.values()
            by_name = {r.expectation_config.meta["name"]: r for r in result.results}
            records = [_record(e, by_name[e.name]) for e in suite.expectations]
            for exp, record in zip(suite.expectations, records, strict=True):
                if not record["success"] and not record.get("error"):
                    record["examples"] = example_values(data, exp, example_count)
            docs = {
                str(p.relative_to(docs_dir)): p.read_bytes()
                for p in sorted(docs_dir.rglob("*"))
                if p.is_file()
            }
    finally:
        if cache or gx_persist:
            data.unpersist()
    row_count = next(
        (
            r["observed_value"]
            for r in records
            if r["type"] == "expect_table_row_count_to_be_between"
        ),
        None,
    )
    summary = {
        "suite": suite.name,
        "success": bool(result.success),
        "passed_gate": not any(r["severity"] == "critical" and not r["success"] for r in records),
        "rows": row_count,
        "evaluated": len(records),
        "failed": [r["name"] for r in records if not r["success"]],
        "expectations": records,
        "data_docs": "data_docs/index.html",
    }
    return summary, docs
