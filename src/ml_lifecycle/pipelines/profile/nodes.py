"""Profile nodes: statistics of a table computed in Spark, and a starter suite drafted from them.

Only aggregates reach the driver: one pass for counts, nulls, ranges, quantiles and approximate
cardinalities, one small group-by per string column for its top values, one exact distinct count
for the columns that look unique.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    NumericType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from ml_lifecycle.core.params import parse
from ml_lifecycle.core.spark import col, require_columns
from ml_lifecycle.pipelines.profile.params import ProfileParams

APPROX_RSD = 0.01


def _kind(dtype: Any) -> str:
    if isinstance(dtype, BooleanType):
        return "boolean"
    if isinstance(dtype, NumericType) and not isinstance(dtype, DecimalType):
        return "numeric"
    if isinstance(dtype, StringType):
        return "string"
    if isinstance(dtype, DateType | TimestampType | TimestampNTZType):
        return "temporal"
    return "other"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def profile_dataset(df: DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Returns per-column types, null fractions, ranges, quantiles, cardinalities and top values."""
    params = parse(ProfileParams, params, "profile")
    require_columns(df.columns, params.exclude, "profile.exclude")
    fields = [f for f in df.schema.fields if f.name not in set(params.exclude)]
    quantiles, accuracy = params.quantiles, params.quantile_accuracy
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, f in enumerate(fields):
        c, kind = col(f.name), _kind(f.dataType)
        aggs += [
            F.sum(c.isNull().cast("long")).alias(f"n{i}"),
            # 1 % error: a unique column is then never estimated below 95 % of its rows.
            F.approx_count_distinct(c, rsd=APPROX_RSD).alias(f"d{i}"),
        ]
        if isinstance(f.dataType, FloatType | DoubleType):
            # Spark orders NaN above every number: min/max/quantiles are of the other values.
            aggs.append(F.sum(F.isnan(c).cast("long")).alias(f"nan{i}"))
            c = F.when(~F.isnan(c), c)
        if kind in ("numeric", "temporal", "string"):
            aggs += [F.min(c).alias(f"lo{i}"), F.max(c).alias(f"hi{i}")]
        if kind == "numeric":
            aggs += [
                F.avg(c).alias(f"mean{i}"),
                F.stddev_samp(c).alias(f"std{i}"),
                F.percentile_approx(c, quantiles, accuracy).alias(f"q{i}"),
            ]
    row = df.agg(*aggs).first()
    rows = row["_rows"]

    columns: dict[str, dict[str, Any]] = {}
    for i, f in enumerate(fields):
        kind = _kind(f.dataType)
        nulls = row[f"n{i}"] or 0
        stats: dict[str, Any] = {
            "type": f.dataType.simpleString(),
            "kind": kind,
            "null_count": nulls,
            "null_fraction": round(nulls / rows, 6) if rows else None,
            "approx_distinct": row[f"d{i}"],
        }
        if isinstance(f.dataType, FloatType | DoubleType):
            stats["nan_count"] = row[f"nan{i}"] or 0
        if kind in ("numeric", "temporal", "string"):
            stats["min"], stats["max"] = _plain(row[f"lo{i}"]), _plain(row[f"hi{i}"])
        if kind == "numeric":
            stats["mean"], stats["stddev"] = row[f"mean{i}"], row[f"std{i}"]
            values = row[f"q{i}"] or [None] * len(quantiles)
            stats["quantiles"] = {str(q): v for q, v in zip(quantiles, values, strict=True)}
        columns[f.name] = stats

    top, max_set = params.top_values, params.max_set_size
    for f in fields:
        if _kind(f.dataType) != "string":
            continue
        counts = (
            df.filter(col(f.name).isNotNull())
            .groupBy(col(f.name).alias("value"))
            .count()
            .orderBy(F.col("count").desc(), F.col("value"))
            .limit(max(top, max_set + 1))
            .collect()
        )
        columns[f.name]["top_values"] = [
            {"value": r["value"], "count": r["count"]} for r in counts[:top]
        ]
        if len(counts) <= max_set:  # every distinct value was seen: the set is exact
            columns[f.name]["value_set"] = sorted(r["value"] for r in counts)

    # approx_count_distinct errs by a few %: confirm exactly the columns that look unique.
    candidates = [
        f.name
        for f in fields
        if _kind(f.dataType) in ("numeric", "string")
        and rows
        and columns[f.name]["approx_distinct"] >= 0.95 * (rows - columns[f.name]["null_count"])
    ]
    if candidates:
        exact = df.agg(
            *[F.count_distinct(col(c)).alias(str(i)) for i, c in enumerate(candidates)]
        ).first()
        for i, c in enumerate(candidates):
            columns[c]["unique"] = exact[i] == rows - columns[c]["null_count"]
    return {"rows": rows, "columns": columns}


def _note(stats: dict[str, Any]) -> str:
    parts = [f"{stats['type']}", f"nulls {stats['null_fraction']:.2%}"]
    if "min" in stats:
        parts.append(f"min {stats['min']}, max {stats['max']}")
    if stats.get("quantiles"):
        parts.append("quantiles " + ", ".join(f"{q}: {v}" for q, v in stats["quantiles"].items()))
    parts.append(f"~{stats['approx_distinct']:,} distinct")
    return "observed: " + "; ".join(parts)


def draft_suite(profile: dict[str, Any], params: dict[str, Any]) -> str:
    """Returns a starter suite (YAML) that the profiled data passes, for a person to curate."""
    params = parse(ProfileParams, params, "profile")
    rows, columns = profile["rows"], profile["columns"]
    tolerance = params.row_count_tolerance
    expectations: dict[str, Any] = {
        "row_count": {
            "type": "expect_table_row_count_to_be_between",
            "min_value": math.floor(rows * (1 - tolerance)),
            "max_value": math.ceil(rows * (1 + tolerance)),
            "severity": "critical",
        }
    }
    required = [name for name, s in columns.items() if s["null_count"] == 0]
    if required:
        expectations["required"] = {
            "type": "expect_column_values_to_not_be_null",
            "column": required,
            "severity": "critical",
        }
    for name, s in columns.items():
        if s.get("unique"):
            # An aggregate (distinct count), not expect_column_values_to_be_unique's window.
            expectations[f"{name}_unique"] = {
                "type": "expect_column_proportion_of_unique_values_to_be_between",
                "column": name,
                "min_value": 1.0,
                "severity": "warning",
            }
        # NaN or infinite values would fail a range of the finite ones: no range is drafted.
        if (
            s["kind"] == "numeric"
            and _finite(s.get("min"))
            and _finite(s.get("max"))
            and not s.get("nan_count")
        ):
            expectations[f"{name}_range"] = {
                "type": "expect_column_values_to_be_between",
                "column": name,
                "min_value": s["min"],
                "max_value": s["max"],
                "severity": "warning",
                "notes": _note(s),
            }
        if s["kind"] == "string" and s.get("value_set"):
            expectations[f"{name}_values"] = {
                "type": "expect_column_values_to_be_in_set",
                "column": name,
                "value_set": s["value_set"],
                "severity": "warning",
                "notes": _note(s),
            }
    name = params.suite_name
    header = (
        f"# Starter suite drafted by `kedro run --pipelines profile` from {rows:,} rows.\n"
        "# Every bound is what was observed, so this data passes it. Curate it (widen ranges to\n"
        "# what is plausible, choose severities, mark row-level checks `quarantine: true`), then\n"
        "# copy it into conf/<env>/expectations/ (data_quality reads `expectation_suite`;\n"
        "# `_replace: true` keeps the base suite's expectations out of it).\n"
    )
    suite = {"_replace": True, "name": name, "expectations": expectations}
    body = {"expectation_suite": suite}
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
