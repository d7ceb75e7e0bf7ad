"""The quality gate: critical failures stop the run, warnings are logged; both name the evidence."""

from __future__ import annotations

import logging
from typing import Any

from ml_lifecycle.core.errors import LifecycleError

logger = logging.getLogger(__name__)


class DataQualityError(LifecycleError):
    """Critical expectations failed: the data must not go on to train a model."""


def _value(value: Any) -> str:
    if isinstance(value, dict) and "key" in value:
        key = ", ".join(f"{k}={v!r}" for k, v in value["key"].items())
        return f"({key}) x{value['rows']}"
    return "null" if value is None else repr(value)


def describe_failure(record: dict[str, Any]) -> str:
    """Returns one line naming a failed expectation, its column, what was observed and examples."""
    columns = record["columns"]
    where = f" on {', '.join(repr(c) for c in columns)}" if columns else ""
    args = ", ".join(f"{k}={v!r}" for k, v in record["kwargs"].items() if v is not None)
    line = f"{record['name']}: {record['type']}{where}" + (f" ({args})" if args else "")
    if record.get("error"):
        return f"{line}: could not be evaluated: {record['error']}"
    if record.get("unexpected_count") is not None:
        # GX's percent is of the non-null values, except for not-null itself (of all rows).
        of = "rows" if record["type"] == "expect_column_values_to_not_be_null" else "non-null"
        line += (
            f": {record['unexpected_count']:,} unexpected values"
            f" ({record['unexpected_percent'] or 0:.4g}% of {of})"
        )
    if record.get("observed_value") is not None:
        line += f": observed {record['observed_value']!r}"
    if record.get("examples"):
        line += "; e.g. " + ", ".join(_value(v) for v in record["examples"])
    if record.get("quarantine"):
        line += " [rows quarantined]"
    return line


def enforce(summary: dict[str, Any]) -> list[str]:
    """Returns the quarantining expectations that found rows; raises on a critical failure."""
    failed = [r for r in summary["expectations"] if not r["success"]]
    for record in failed:
        if record["severity"] != "critical":
            logger.warning("data quality warning: %s", describe_failure(record))
    critical = [r for r in failed if r["severity"] == "critical"]
    if critical:
        lines = "\n".join(f"  - {describe_failure(r)}" for r in critical)
        raise DataQualityError(
            f"Data quality: {len(critical)} critical expectation(s) of suite '{summary['suite']}' "
            f"failed; the run stops before the data goes on (see "
            f"08_reporting/data_quality/summary.json and its Data Docs):\n{lines}"
        )
    logger.info(
        "data quality: suite '%s' passed the gate (%d expectations, %d warnings)",
        summary["suite"],
        summary["evaluated"],
        len(failed),
    )
    return [r["name"] for r in summary["expectations"] if r["quarantine"] and r["unexpected_count"]]
