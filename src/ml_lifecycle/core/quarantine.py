"""Row accounting: every stage proves in = kept + quarantined, from what it actually wrote.

The counts cost no pass of their own:

- while a stage's outputs are written, Spark counts their rows, and the quarantined ones by
  reason, as observed metrics of the writing job (`DataFrame.observe`, :class:`StageCounts`);
- the rows a stage read and wrote are also read from the Parquet footers of its input and
  outputs (:func:`written_rows`): no Spark job, and a number the stage's own logic cannot bend.

`check_stage` then holds the stage to `in = kept + quarantined` with the footer counts, and to
the observed counts agreeing with them: a stage that drops or multiplies rows between what it read
and what it wrote fails either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import fsspec
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.errors import RowAccountingError

logger = logging.getLogger(__name__)

ROWS = "rows"
# Hadoop schemes whose fsspec implementation is registered under another name.
_FSSPEC_PROTOCOLS = {"s3a": "s3", "s3n": "s3", "abfss": "abfs", "wasb": "abfs", "wasbs": "abfs"}


def counts_by(df: DataFrame, columns: list[str]) -> dict[tuple, int]:
    """Returns row counts per distinct value of `columns` (only aggregates reach the driver)."""
    rows = df.groupBy(*columns).count().collect()  # bounded: one row per group
    return {tuple(row[c] for c in columns): row["count"] for row in rows}


def _parquet_files(df: DataFrame) -> list[str] | None:
    """The files of `df` when it is a plain read of a Parquet folder (no filter, no join), else
    None."""
    jdf = getattr(df, "_jdf", None)  # Spark Connect has no plan in the client
    if jdf is None:
        return None
    plan = jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() != "LogicalRelation":
        return None
    relation = plan.relation()
    if relation.getClass().getSimpleName() != "HadoopFsRelation":
        return None
    if relation.fileFormat().getClass().getSimpleName() != "ParquetFileFormat":
        return None
    return list(df.inputFiles())


def _footer_rows(path: str) -> int:
    scheme, _, rest = path.partition(":")
    if scheme == "file":
        fs, location = fsspec.filesystem("file"), "/" + rest.lstrip("/")
    else:
        fs = fsspec.filesystem(_FSSPEC_PROTOCOLS.get(scheme, scheme))
        location = path
    with fs.open(location, "rb") as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def written_rows(df: DataFrame) -> int:
    """Returns the rows of `df`: from its Parquet footers when it is a Parquet dataset as written
    (no Spark job, no scan), else by counting it."""
    files = _parquet_files(df)
    if files is None:
        return df.count()
    return sum(_footer_rows(f) for f in files)


class StageCounts:
    """What Spark counted while it wrote a stage's outputs: rows per output, quarantine reasons.

    A stage wraps each DataFrame it returns (`rows`, `by_reason`); the job that writes that
    output computes the counts on the way (`DataFrame.observe`), and the accounting node reads
    them once the outputs are written. Kedro hands this object from node to node in memory: a
    copy is the object itself.
    """

    def __init__(self) -> None:
        self._observed: dict[str, tuple[Observation, list[str], str, DataFrame]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> StageCounts:
        return self

    def rows(self, df: DataFrame, name: str) -> DataFrame:
        """Returns `df`, counted under `name` by the first action on it."""
        return self._observe(df, name, [], REASON)

    def by_reason(
        self, df: DataFrame, name: str, reasons: Iterable[str], column: str = REASON
    ) -> DataFrame:
        """Returns `df`, its rows counted under `name` in all and by each of `reasons`.

        `reasons` are every value `column` can take (a stage knows its checks); a row with
        another value is counted as `unlisted:<name>`, so none goes uncounted.
        """
        return self._observe(df, name, list(dict.fromkeys(reasons)), column)

    def _observe(self, df: DataFrame, name: str, reasons: list[str], column: str) -> DataFrame:
        observation = Observation(f"{name}-{id(self)}")
        self._observed[name] = (observation, reasons, column, df)
        metrics = [F.count(F.lit(1)).alias(ROWS)]
        metrics += [
            F.count(F.when(F.col(column) == F.lit(r), 1)).alias(f"reason{i}")
            for i, r in enumerate(reasons)
        ]
        return df.observe(observation, *metrics)

    def get(self, name: str) -> dict[str, Any]:
        """Returns {rows, by_reason, observed} counted under `name`.

        Never blocks: when no job reported the metrics (the output was not acted on, or a Spark
        Connect client got none for a write), the DataFrame is counted instead (`observed` False).
        """
        observation, reasons, column, df = self._observed[name]
        jo = getattr(observation, "_jo", None)
        values = observation.get if jo is None or jo.future().isCompleted() else None
        if values:
            rows = values[ROWS]
            by_reason = {r: values[f"reason{i}"] for i, r in enumerate(reasons)}
        elif reasons:
            by_reason = {reason: n for (reason,), n in counts_by(df, [column]).items()}
            rows = sum(by_reason.values())
        else:
            rows, by_reason = df.count(), {}
        by_reason = {r: n for r, n in by_reason.items() if n}
        unlisted = rows - sum(by_reason.values())
        if reasons and unlisted:
            by_reason[f"unlisted:{name}"] = unlisted
        return {"rows": rows, "by_reason": by_reason, "observed": bool(values)}


def check_written(where: str, counted: dict[str, Any], written: int, what: str) -> None:
    """Raises RowAccountingError when Spark's count of an output differs from its footers."""
    if counted["rows"] != written:
        raise RowAccountingError(
            f"{where}: Spark counted {counted['rows']:,} {what} rows while writing them, but "
            f"the written files hold {written:,}: rows were lost or added on the way out."
        )


def _refuse_unbalanced(where: str, rows_in: int, kept: int, quarantined: int) -> None:
    if rows_in != kept + quarantined:
        what = "lost" if rows_in > kept + quarantined else "multiplied"
        raise RowAccountingError(
            f"{where}: {rows_in:,} rows in but {kept:,} kept + {quarantined:,} quarantined = "
            f"{kept + quarantined:,}. Rows were {what}"
            " (multiplied rows usually mean a join key that is not unique)."
        )


def check_stage(where: str, rows_in: int, kept: int, by_reason: dict[str, int]) -> dict[str, Any]:
    """Returns the accounting record of `where`; raises RowAccountingError if it does not add up."""
    quarantined = sum(by_reason.values())
    record = {
        "in": rows_in,
        "kept": kept,
        "quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
    }
    _refuse_unbalanced(where, rows_in, kept, quarantined)
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


def account_stage(  # noqa: PLR0913 - each output with its count
    where: str,
    rows_in: int,
    kept: DataFrame,
    kept_counted: dict[str, Any],
    quarantine: DataFrame,
    quarantine_counted: dict[str, Any],
) -> dict[str, Any]:
    """Returns the record of a stage that wrote `kept` and `quarantine` from `rows_in` rows.

    The written rows come from the outputs' Parquet footers; Spark's counts taken while writing
    them must agree, and give the quarantine's reasons.
    """
    kept_rows, quarantined_rows = written_rows(kept), written_rows(quarantine)
    _refuse_unbalanced(where, rows_in, kept_rows, quarantined_rows)
    check_written(where, kept_counted, kept_rows, "kept")
    check_written(where, quarantine_counted, quarantined_rows, "quarantined")
    return check_stage(where, rows_in, kept_rows, quarantine_counted["by_reason"])
