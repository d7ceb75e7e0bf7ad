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
from ml_lifecycle.pipelines.cleaning.params import CleaningParams, ConstantImpute
from ml_lifecycle.pipelines.profile.params import ProfileParams

# HyperLogLog++'s relative error (Spark's default). Its buffer grows as 1/rsd^2: at 0.01 each
# column carries ~2,700 longs through the aggregation, which costs seconds per column whatever
# the rows; at 0.05 it is ~100. A column whose estimate is within UNIQUE_CANDIDATE (4 standard
# errors) of its non-null rows is confirmed by an exact count, so no unique column is missed.
APPROX_RSD = 0.05
UNIQUE_CANDIDATE = 1 - 4 * APPROX_RSD


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
        and columns[f.name]["approx_distinct"]
        >= UNIQUE_CANDIDATE * (rows - columns[f.name]["null_count"])
    ]
    if candidates:
        exact = df.agg(
            *[F.count_distinct(col(c)).alias(str(i)) for i, c in enumerate(candidates)]
        ).first()
        for i, c in enumerate(candidates):
            columns[c]["unique"] = exact[i] == rows - columns[c]["null_count"]
    return {"rows": rows, "columns": columns}


def _note(stats: dict[str, Any], cleaning: str = "") -> str:
    parts = [f"{stats['type']}", f"missing {_missing(stats) / stats['rows']:.2%}"]
    if "min" in stats:
        parts.append(f"min {stats['min']}, max {stats['max']}")
    if stats.get("quantiles"):
        parts.append("quantiles " + ", ".join(f"{q}: {v}" for q, v in stats["quantiles"].items()))
    parts.append(f"~{stats['approx_distinct']:,} distinct")
    return "observed before cleaning: " + "; ".join(parts) + (f"; {cleaning}" if cleaning else "")


def _missing(stats: dict[str, Any]) -> int:
    """Null and NaN values: cleaning reads NaN as missing."""
    return stats["null_count"] + (stats.get("nan_count") or 0)


def _filled(cleaning: CleaningParams) -> dict[str, Any]:
    """Returns {column: the constant cleaning fills its missing values with} (imputed, target)."""
    values = {n: s.value for n, s in cleaning.impute.items() if isinstance(s, ConstantImpute)}
    target = cleaning.target
    if target is not None and target.on_missing == "fill":
        values[target.column] = target.fill_value
    return values


def _completes(name: str, stats: dict[str, Any], cleaning: CleaningParams) -> bool:
    """Whether cleaning leaves `name` without a missing value: it quarantines or fills the rows
    that lack it (required, target) or imputes it (a fitted value needs values to fit on)."""
    target = cleaning.target
    if name in cleaning.required or (target is not None and name == target.column):
        return True
    if name in _filled(cleaning):
        return True
    return name in cleaning.impute and _missing(stats) < stats["rows"]


def _range(name: str, s: dict[str, Any], cleaning: CleaningParams) -> dict[str, Any] | None:
    """The raw range of a numeric column, widened to a constant cleaning fills it with."""
    # Cleaning reads NaN as missing and quarantines infinities: the range is of the others.
    if s["kind"] != "numeric" or not (_finite(s.get("min")) and _finite(s.get("max"))):
        return None
    lo, hi, how = s["min"], s["max"], []
    spec = cleaning.outliers.get(name)
    if spec is not None and spec.action == "clip":
        how.append(f"cleaning clips it ({spec.method}) within this range")
    fill = _filled(cleaning).get(name)
    if _finite(fill) and not lo <= fill <= hi:
        lo, hi = min(lo, fill), max(hi, fill)
        how.append(f"widened to {fill!r}, its imputed value")
    return {
        "type": "expect_column_values_to_be_between",
        "column": name,
        "min_value": lo,
        "max_value": hi,
        "severity": "warning",
        "notes": _note(s, ", ".join(how)),
    }


def _value_set(name: str, s: dict[str, Any], cleaning: CleaningParams) -> dict[str, Any] | None:
    """The raw value set of a string column, with the constant cleaning fills it with."""
    if s["kind"] != "string" or not s.get("value_set"):
        return None
    values, how = s["value_set"], ""
    fill = _filled(cleaning).get(name)
    if isinstance(fill, str) and fill not in values:
        values, how = sorted([*values, fill]), f"with {fill!r}, its imputed value"
    return {
        "type": "expect_column_values_to_be_in_set",
        "column": name,
        "value_set": values,
        "severity": "warning",
        "notes": _note(s, how),
    }


def draft_suite(profile: dict[str, Any], params: dict[str, Any], cleaning: dict[str, Any]) -> str:
    """Returns a starter suite (YAML) for the cleaned table, drafted from the profile of the table
    before cleaning (`cleaning`: the rules that turn one into the other), for a person to curate.

    Bounds are the raw table's, so its missingness and ranges show, and each holds for what
    cleaning makes of it: a column cleaning requires or imputes is drafted not null (cleaning
    leaves it complete); any other column with missing values gets a `mostly` that allows its raw
    missing values in row_count's minimum of rows (cleaning adds none but removes rows); a
    clipped column's values stay within its raw range; a constant cleaning imputes widens the
    range or set. Cleaning otherwise only removes rows, which keeps the rest true.
    """
    params = parse(ProfileParams, params, "profile")
    cleaning = parse(CleaningParams, cleaning, "cleaning")
    rows = profile["rows"]
    columns = {name: {**s, "rows": rows} for name, s in profile["columns"].items()}
    tolerance = params.row_count_tolerance
    fewest = math.floor(rows * (1 - tolerance))
    expectations: dict[str, Any] = {
        "row_count": {
            "type": "expect_table_row_count_to_be_between",
            "min_value": fewest,
            "max_value": math.ceil(rows * (1 + tolerance)),
            "severity": "critical",
            "notes": f"{rows:,} rows before cleaning, which quarantines some of them",
        }
    }
    completed = {n for n, s in columns.items() if _missing(s) and _completes(n, s, cleaning)}
    required = [n for n, s in columns.items() if rows and (n in completed or not _missing(s))]
    if required:
        notes = "complete before cleaning"
        if completed:
            notes += f" but for {', '.join(sorted(completed))}, which cleaning completes"
        expectations["required"] = {
            "type": "expect_column_values_to_not_be_null",
            "column": required,
            "severity": "critical",
            "notes": notes,
        }
    clipped = {n for n, spec in cleaning.outliers.items() if spec.action == "clip"}
    imputed = set(cleaning.impute) | set(_filled(cleaning))
    for name, s in columns.items():
        # Cleaning adds no missing value here but may remove rows: the raw missing values in as
        # few rows as row_count allows, so the cleaned table passes whenever row_count does.
        mostly = math.floor(100 * (1 - _missing(s) / fewest)) / 100 if fewest else 0
        if name not in required and mostly > 0:
            expectations[f"{name}_not_null"] = {
                "type": "expect_column_values_to_not_be_null",
                "column": name,
                "mostly": mostly,
                "severity": "warning",
                "notes": _note(
                    s,
                    f"cleaning neither requires nor imputes it; mostly: its {_missing(s):,} "
                    f"missing values in row_count's minimum of {fewest:,} rows",
                ),
            }
        # Imputing or clipping can repeat a value: no uniqueness for a column it changes.
        changed = name in clipped or (name in imputed and _missing(s))
        if s.get("unique") and not changed:
            # An aggregate (distinct count), not expect_column_values_to_be_unique's window.
            expectations[f"{name}_unique"] = {
                "type": "expect_column_proportion_of_unique_values_to_be_between",
                "column": name,
                "min_value": 1.0,
                "severity": "warning",
            }
        if name in cleaning.types:
            continue  # cleaning casts it: the raw values' range or set is not the cast ones'
        for kind, drafted in (("range", _range), ("values", _value_set)):
            expectation = drafted(name, s, cleaning)
            if expectation is not None:
                expectations[f"{name}_{kind}"] = expectation
    header = (
        f"# Starter suite drafted by `kedro run --pipelines profile` from {rows:,} rows of the\n"
        "# table before cleaning, for data_quality, which validates the cleaned table. Bounds\n"
        "# are the raw table's (each expectation's notes say what was observed): columns that\n"
        "# cleaning requires or imputes are not null, the others' `mostly` allows their raw\n"
        "# missing values in row_count's fewest rows; a clipped column's range is its raw range,\n"
        "# which its clipped values stay within. Curate it (widen ranges to what is plausible,\n"
        "# choose severities, mark row-level checks `quarantine: true`), then copy it into\n"
        "# conf/<env>/expectations/ (data_quality reads `expectation_suite`; `_replace: true`\n"
        "# keeps the base suite's expectations out of it).\n"
    )
    suite = {"_replace": True, "name": params.suite_name, "expectations": expectations}
    body = {"expectation_suite": suite}
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
