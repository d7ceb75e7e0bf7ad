"""Validate a Spark DataFrame with GX Core through its Spark data source, and render Data Docs.

Speed: GX bundles every aggregate metric of one dependency level into a single `df.agg` per
domain, so a suite of counts, ranges, sets and means costs a few passes over the data, not one
per expectation. What makes it slow is asking for example rows (each a `filter().limit()` scan
of the whole table when nothing fails) and window-based uniqueness. So the validation asks GX
for counts only (BASIC, no partial lists), reads only the suite's columns, caches them for the
few passes GX makes, and fetches example values afterwards, for the failing expectations only,
from the same predicate that quarantines their rows.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_lifecycle.quality.suite import UNIQUENESS, Expectation, Suite, gx, prepare
from ml_lifecycle.spark_utils import col

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
    """Returns up to `count` offending values of a failed expectation (not whole rows)."""
    if exp.row_level:
        rows = df.filter(exp.unexpected()).select(col(exp.kwargs["column"])).limit(count)
        return [row[0] for row in rows.collect()]
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


def validate(
    df: DataFrame,
    suite: Suite,
    example_count: int = 5,
    cache: bool = True,
    result_format: dict[str, Any] | str | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Returns (the validation summary, the Data Docs files by relative path) of `suite` on `df`."""
    data = prepare(df, suite)  # raises ConfigError before any Spark job runs
    if cache:
        data = data.persist(StorageLevel.MEMORY_AND_DISK)
    spark = df.sparkSession
    spark.sparkContext.setJobGroup(JOB_GROUP, f"validate suite {suite.name}")
    try:
        with tempfile.TemporaryDirectory(prefix="gx_docs_") as tmp:
            docs_dir = Path(tmp)
            context = _context(docs_dir)
            asset = context.data_sources.add_spark(name="spark").add_dataframe_asset(suite.name)
            batch_definition = asset.add_batch_definition_whole_dataframe("whole_dataframe")
            gx_suite = context.suites.add(
                gx.ExpectationSuite(
                    name=suite.name, expectations=[e.to_gx() for e in suite.expectations]
                )
            )
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=suite.name,
                    validation_definitions=[definition],
                    actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
                    result_format=result_format or RESULT_FORMAT,
                )
            )
            run = checkpoint.run(batch_parameters={"dataframe": data})
            (result,) = run.run_results.values()
            by_name = {r.expectation_config.meta["name"]: r for r in result.results}
            records = [_record(e, by_name[e.name]) for e in suite.expectations]
            for exp, record in zip(suite.expectations, records, strict=True):
                if not record["success"]:
                    record["examples"] = example_values(data, exp, example_count)
            docs = {
                str(p.relative_to(docs_dir)): p.read_bytes()
                for p in sorted(docs_dir.rglob("*"))
                if p.is_file()
            }
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        if cache:
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
