"""Row accounting: every stage proves in = kept + quarantined, from what it actually wrote."""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame

from ml_lifecycle.core.errors import RowAccountingError

logger = logging.getLogger(__name__)


def counts_by(df: DataFrame, columns: list[str]) -> dict[tuple, int]:
    """Returns row counts per distinct value of `columns` (only aggregates reach the driver)."""
    rows = df.groupBy(*columns).count().collect()  # bounded: one row per group
    return {tuple(row[c] for c in columns): row["count"] for row in rows}


def check_stage(where: str, rows_in: int, kept: int, by_reason: dict[str, int]) -> dict[str, Any]:
    """Returns the accounting record of `where`; raises RowAccountingError if it does not add up."""
    quarantined = sum(by_reason.values())
    record = {
        "in": rows_in,
        "kept": kept,
        "quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
    }
    if rows_in != kept + quarantined:
        what = "lost" if rows_in > kept + quarantined else "multiplied"
        raise RowAccountingError(
            f"{where}: {rows_in:,} rows in but {kept:,} kept + {quarantined:,} quarantined = "
            f"{kept + quarantined:,}. Rows were {what}"
            " (multiplied rows usually mean a join key that is not unique)."
        )
    reasons = ", ".join(f"{r}={n:,}" for r, n in record["quarantined_by_reason"].items())
    logger.info(
        "%s: in=%s kept=%s quarantined=%s%s",
        where,
        f"{rows_in:,}",
        f"{kept:,}",
        f"{quarantined:,}",
        f" ({reasons})" if reasons else "",
    )
    return record
