"""Ingestion nodes: tag malformed records, de-duplicate lookups, join, derive, account."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.core.quarantine import StageCounts, check_stage, check_written, written_rows
from ml_lifecycle.core.spark import (
    checked_expr,
    col,
    first_reason,
    has_invalid_utf8,
    require_columns,
    resolving,
    string_columns,
)
from ml_lifecycle.datasets.spark_sources import CORRUPT, SOURCE_FILE
from ml_lifecycle.pipelines.ingestion.params import IngestionParams, Join

logger = logging.getLogger(__name__)

MATCH = "_matched_{}"
QUARANTINE_COLUMNS = ("source", "source_file", "reason", "record")
RECORD_REASONS = ("malformed_record", "invalid_utf8")


def _declared(df: DataFrame) -> list[str]:
    return [c for c in df.columns if c not in (CORRUPT, SOURCE_FILE, REASON)]


def _tag_records(df: DataFrame) -> DataFrame:
    """Returns `df` with `_reason`: malformed record, undecodable bytes, or null when fine."""
    strings = [c for c in string_columns(df) if c not in (CORRUPT, SOURCE_FILE)]
    reason = first_reason(
        [
            (F.col(CORRUPT).isNotNull(), "malformed_record"),
            (has_invalid_utf8(strings), "invalid_utf8"),
        ]
    )
    return df.withColumn(REASON, reason)


def _quarantine_rows(tagged: DataFrame, source: str, columns: list[str]) -> DataFrame:
    """Returns the rejected rows in the quarantine layout, with the raw text when there is one."""
    record = F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*[col(c) for c in columns])))
    return tagged.filter(F.col(REASON).isNotNull()).select(
        F.lit(source).alias("source"),
        F.col(SOURCE_FILE).alias("source_file"),
        F.col(REASON).alias("reason"),
        record.alias("record"),
    )


def _unique_lookup(
    tagged: DataFrame, name: str, keys: list[str], order_by: list[str] | None
) -> tuple[DataFrame, DataFrame]:
    """Returns (one row per join key, the other rows tagged as duplicates or missing keys)."""
    columns = _declared(tagged)
    order = [col(c).asc_nulls_last() for c in (order_by or [c for c in columns if c not in keys])]
    window = Window.partitionBy(*[col(k) for k in keys]).orderBy(*order)
    ranked = tagged.withColumn("_rank", F.row_number().over(window))
    key_missing = reduce(Column.__or__, [col(k).isNull() for k in keys])
    reason = F.coalesce(
        F.col(REASON),
        F.when(key_missing, F.lit(f"missing_join_key:{'+'.join(keys)}")),
        F.when(F.col("_rank") > 1, F.lit(f"duplicate_join_key:{'+'.join(keys)}")),
    )
    ranked = ranked.withColumn(REASON, reason).drop("_rank")
    kept = ranked.filter(F.col(REASON).isNull()).select(*[col(c) for c in columns])
    return kept, _quarantine_rows(ranked, name, columns)


def _lookup_reasons(keys: list[str]) -> list[str]:
    joined = "+".join(keys)
    return [*RECORD_REASONS, f"missing_join_key:{joined}", f"duplicate_join_key:{joined}"]


def _validate(sources: dict[str, DataFrame], params: IngestionParams) -> None:
    main = params.main_source
    if main not in sources:
        raise ConfigError(
            f"ingestion.main_source: '{main}' is not a declared source {sorted(sources)}."
        )
    for i, join in enumerate(params.joins):
        where = f"ingestion.joins[{i}] ({join.source})"
        if join.source not in sources:
            raise ConfigError(f"{where}: no such source; declared: {sorted(sources)}.")
        declared = _declared(sources[join.source])
        require_columns(declared, list(join.keys.values()), where)
        require_columns(declared, list(join.columns), where)
        require_columns(declared, join.order_by or [], f"ingestion.joins[{i}].order_by")


def _join_lookups(
    joined: DataFrame, lookups: dict[str, DataFrame], joins: list[Join], columns: list[str]
) -> tuple[DataFrame, list[str], list[str]]:
    """Returns the main rows joined with each lookup, the output columns and the reasons an
    inner join can give (a row it does not match is tagged, not dropped)."""
    output_columns = list(columns)
    reasons = []
    for i, join in enumerate(joins):
        name = join.source
        where = f"ingestion.joins[{i}] ({name})"
        require_columns(joined.columns, list(join.keys), where)
        renames = join.columns
        clash = [new for new in renames.values() if new in output_columns]
        if clash:
            raise ConfigError(f"{where}: output column(s) {clash} already exist; rename them.")
        right = lookups[name].select(
            *[col(r).alias(left) for left, r in join.keys.items()],
            *[col(old).alias(new) for old, new in renames.items()],
            F.lit(True).alias(MATCH.format(name)),
        )
        if join.broadcast:
            right = F.broadcast(right)
        with resolving(f"ingestion.joins[{i}].keys ({name})", output_columns):
            # Keys of types Spark cannot compare fail here, when the join is analysed.
            joined = joined.join(right, on=list(join.keys), how="left")
        if join.how == "inner":
            unmatched = F.when(F.col(MATCH.format(name)).isNull(), F.lit(f"unmatched:{name}"))
            joined = joined.withColumn(REASON, F.coalesce(F.col(REASON), unmatched))
            reasons.append(f"unmatched:{name}")
        output_columns += list(renames.values())
    return joined, output_columns, reasons


def ingest(
    raw_sources: dict[str, DataFrame], params: dict[str, Any]
) -> tuple[DataFrame, DataFrame, StageCounts]:
    """Returns the joined main table, the quarantine of every source and the rows Spark counts
    while it writes them (per source: in, kept, quarantined by reason)."""
    params = parse(IngestionParams, params, "ingestion")
    _validate(raw_sources, params)
    main_name = params.main_source
    joins: list[Join] = params.joins
    counts = StageCounts()
    quarantines = []

    # A lookup is small: it is read (and counted) once for the join, once for its quarantine.
    lookups: dict[str, DataFrame] = {}
    for i, join in enumerate(joins):
        name = join.source
        tagged = counts.rows(_tag_records(raw_sources[name]), f"{name}/in")
        with resolving(f"ingestion.joins[{i}] ({name})", _declared(tagged)):
            keys = list(join.keys.values())
            kept, rejected = _unique_lookup(tagged, name, keys, join.order_by)
        lookups[name] = counts.rows(kept, f"{name}/kept")
        quarantines.append(
            counts.by_reason(rejected, f"{name}/quarantined", _lookup_reasons(keys), "reason")
        )

    # The main source is parsed once: the join and the quarantine both read this copy.
    main = _tag_records(raw_sources[main_name]).persist(StorageLevel.MEMORY_AND_DISK)
    main = counts.rows(main, f"{main_name}/in")
    main_columns = _declared(main)
    main_reasons = list(RECORD_REASONS)
    main_parts = [_quarantine_rows(main, main_name, main_columns)]

    joined, output_columns, unmatched_reasons = _join_lookups(
        main.filter(F.col(REASON).isNull()), lookups, joins, main_columns
    )
    main_reasons += unmatched_reasons

    # In order: a derived column may use the ones above it; one named like a column replaces it.
    for name, sql in params.derived.items():
        where = f"ingestion.derived.{name}"
        derived = checked_expr(joined, sql, where, available=output_columns)
        joined = joined.withColumn(name, derived)
        if name not in output_columns:
            output_columns.append(name)

    unmatched = joined.filter(F.col(REASON).isNotNull())
    if unmatched_reasons:
        main_parts.append(_quarantine_rows(unmatched, main_name, main_columns))
    intermediate = joined.filter(F.col(REASON).isNull()).select(*[col(c) for c in output_columns])
    intermediate = counts.rows(intermediate, f"{main_name}/kept")
    # The main source's quarantined rows, counted by reason as the quarantine is written.
    main_quarantine = reduce(DataFrame.unionByName, main_parts)
    main_quarantine = counts.by_reason(
        main_quarantine, f"{main_name}/quarantined", main_reasons, "reason"
    )
    quarantine = reduce(DataFrame.unionByName, [main_quarantine, *quarantines])
    return intermediate, quarantine, counts


def account_ingestion(
    counts: StageCounts,
    intermediate: DataFrame,
    quarantine: DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Returns the stage's row accounting from the written outputs; raises if rows went missing.

    Per source, Spark counted the rows read, kept and quarantined (by reason) while it wrote the
    two outputs; the outputs' Parquet footers must hold exactly the kept main rows and every
    source's quarantined rows.
    """
    params = parse(IngestionParams, params, "ingestion")
    main_name = params.main_source
    names = [main_name, *[j.source for j in params.joins]]
    quarantined = {name: counts.get(f"{name}/quarantined") for name in names}
    total = {"rows": sum(q["rows"] for q in quarantined.values())}
    check_written("ingestion", total, written_rows(quarantine), "quarantined")
    kept_main = written_rows(intermediate)
    sources = {}
    for name in names:
        # Raw landing files have no footers: a source's `in` is what Spark counted reading it.
        rows_in = counts.get(f"{name}/in")["rows"]
        kept = kept_main if name == main_name else counts.get(f"{name}/kept")["rows"]
        where = f"ingestion/{name}"
        sources[name] = check_stage(where, rows_in, kept, quarantined[name]["by_reason"])
        if name == main_name:
            check_written(where, counts.get(f"{name}/kept"), kept_main, "kept")
    main = sources[main_name]
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "in": main["in"],
        "kept": main["kept"],
        "quarantined": main["quarantined"],
        "quarantined_by_reason": main["quarantined_by_reason"],
        "sources": sources,
    }
