"""Cleaning nodes: fit statistics in Spark, apply the declared rules, account for every row.

Statistics (imputation values, outlier bounds) are fitted once and stored, so a new batch is
cleaned with the numbers of the data the model was trained on, not with its own.
"""

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
from ml_lifecycle.core.quarantine import check_stage, counts_by
from ml_lifecycle.core.spark import (
    checked_expr,
    col,
    first_reason,
    float_columns,
    is_non_finite,
    null_if_nan,
    quote,
    require_columns,
)
from ml_lifecycle.pipelines.cleaning.params import CleaningParams, ConstantImpute, IqrOutlier
from ml_lifecycle.pipelines.cleaning.plan import build_plan, coerced, repaired

logger = logging.getLogger(__name__)


def _validate(df: DataFrame, params: CleaningParams) -> None:
    """Raises ConfigError for a declared column the table does not have."""
    columns = df.columns
    if params.target is not None:
        require_columns(columns, [params.target.column], "cleaning.target")
    require_columns(columns, params.required, "cleaning.required")
    require_columns(columns, list(params.types), "cleaning.types")
    if params.dedupe is not None:
        require_columns(columns, params.dedupe.keys, "cleaning.dedupe.keys")
        require_columns(columns, params.dedupe.order_by or [], "cleaning.dedupe.order_by")
    require_columns(columns, list(params.outliers), "cleaning.outliers")
    require_columns(columns, list(params.impute), "cleaning.impute")


def _quarantines_missing_target(params: CleaningParams) -> bool:
    return params.target is not None and params.target.on_missing == "quarantine"


def _coerce(df: DataFrame, plan: dict[str, Any]) -> tuple[DataFrame, list[tuple[Column, str]]]:
    """Returns `df` with columns cast to their declared types, and the checks for failed casts."""
    checks = []
    for name, step in plan["columns"].items():
        if not step["coerce"]:
            continue
        df = df.withColumn(f"_orig_{name}", col(name)).withColumn(name, coerced(name, step))
        checks.append(
            (F.col(f"_orig_{name}").isNotNull() & col(name).isNull(), f"type_coercion:{name}")
        )
    return df, checks


def column_types(df: DataFrame, types: dict[str, str]) -> dict[str, str]:
    """Returns {column: Spark type} of `df` once the declared `types` are cast (no Spark job)."""
    cast = df.select(
        *[F.expr(f"try_cast({quote(c)} AS {types[c]})").alias(c) if c in types else col(c)
          for c in df.columns]
    )  # fmt: skip
    return dict(cast.dtypes)


def _finite_values(df: DataFrame) -> DataFrame:
    """Returns `df` with NaN as null and infinities as null, for fitting statistics."""
    floats = float_columns(df)
    return df.withColumns(
        {c: F.when(is_non_finite(col(c)), None).otherwise(null_if_nan(col(c))) for c in floats}
    )


def _tag_duplicates(
    df: DataFrame, keys: list[str], order_by: list[str] | None, columns: list[str]
) -> DataFrame:
    """Returns `df` with every row but one per key tagged `duplicate_key:<keys>`.

    Duplicates are rare, so the wide rows are not shuffled to find them: a narrow count by key
    finds the repeated keys, and only their rows are ranked. Among rows sharing a key, one that
    passes every other rule is kept, then the first by `order_by` (default: all other columns).
    """
    key_names = [f"_key{i}" for i in range(len(keys))]
    repeated = (
        df.groupBy(*[col(k).alias(n) for k, n in zip(keys, key_names, strict=True)])
        .count()
        .filter(F.col("count") > 1)
        .select(*key_names, F.lit(True).alias("_repeated"))
    )
    on = [col(k).eqNullSafe(F.col(n)) for k, n in zip(keys, key_names, strict=True)]
    # Broadcast: otherwise Spark plans a sort-merge join and shuffles every wide row anyway.
    flagged = df.join(F.broadcast(repeated), on=reduce(Column.__and__, on), how="left")
    flagged = flagged.drop(*key_names)
    order = order_by or [c for c in columns if c not in keys]
    window = Window.partitionBy(*[col(k) for k in keys]).orderBy(
        F.col(REASON).isNull().desc(), *[col(c).asc_nulls_last() for c in order]
    )
    reason = F.lit(f"duplicate_key:{'+'.join(keys)}")
    ranked = flagged.filter(F.col("_repeated")).withColumn(
        REASON, F.coalesce(F.col(REASON), F.when(F.row_number().over(window) > 1, reason))
    )
    single = flagged.filter(F.col("_repeated").isNull())
    return single.unionByName(ranked).drop("_repeated")


def fit_cleaning_statistics(intermediate: DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Returns imputation values and outlier bounds fitted in one Spark aggregation."""
    params = parse(CleaningParams, params, "cleaning")
    _validate(intermediate, params)
    df = _finite_values(intermediate)
    if _quarantines_missing_target(params):
        df = df.filter(col(params.target.column).isNotNull())
    if params.fit_filter:
        df = df.filter(checked_expr(df, params.fit_filter, "cleaning.fit_filter", predicate=True))
    accuracy = params.quantile_accuracy

    aggs: dict[str, Column] = {"_rows": F.count(F.lit(1))}
    for name, spec in params.impute.items():
        strategy = spec.strategy
        if strategy == "mean":
            aggs[f"impute:{name}"] = F.avg(col(name))
        elif strategy == "median":
            aggs[f"impute:{name}"] = F.percentile_approx(col(name), 0.5, accuracy)
        elif strategy == "mode":
            aggs[f"impute:{name}"] = F.mode(col(name), deterministic=True)
    for name, spec in params.outliers.items():
        if isinstance(spec, IqrOutlier):
            aggs[f"q:{name}"] = F.percentile_approx(col(name), [0.25, 0.75], accuracy)
        else:
            aggs[f"mean:{name}"] = F.avg(col(name))
            aggs[f"std:{name}"] = F.stddev_samp(col(name))

    row = df.agg(*[expr.alias(alias) for alias, expr in aggs.items()]).first().asDict()
    impute = {}
    for name, spec in params.impute.items():
        impute[name] = spec.value if isinstance(spec, ConstantImpute) else row[f"impute:{name}"]
    bounds = {}
    for name, spec in params.outliers.items():
        if isinstance(spec, IqrOutlier):
            q1, q3 = row[f"q:{name}"] or (None, None)
            k = spec.k
            lower, upper = (None, None) if q1 is None else (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
        else:
            mean, std = row[f"mean:{name}"], row[f"std:{name}"]
            z = spec.threshold
            lower, upper = (
                (None, None) if mean is None or std is None else (mean - z * std, mean + z * std)
            )
        bounds[name] = {"method": spec.method, "lower": lower, "upper": upper}
    stats = {
        "fitted_on_rows": row["_rows"],
        "impute": impute,
        "outliers": bounds,
        # The table's types: the logged model casts a served value as cleaning does (plan.py).
        "column_types": column_types(intermediate, params.types),
    }
    logger.info("cleaning statistics fitted on %s rows", f"{row['_rows']:,}")
    return stats


def clean(
    intermediate: DataFrame, statistics: dict[str, Any] | None, params: dict[str, Any]
) -> tuple[DataFrame, DataFrame]:
    """Returns (clean rows, quarantined rows with `_reason`) after every declared rule."""
    params = parse(CleaningParams, params, "cleaning")
    if statistics is None:
        raise ConfigError(
            "cleaning: the data folder has no cleaning_statistics.json to clean with; run the "
            "whole stage (`kedro run --pipelines cleaning`), which fits them first."
        )
    _validate(intermediate, params)
    columns = intermediate.columns
    types = params.types
    target = params.target
    plan = build_plan(params, statistics, column_types(intermediate, types))
    df, checks = _coerce(intermediate, plan)
    floats = float_columns(df)
    df = df.withColumns({c: null_if_nan(col(c)) for c in floats}) if floats else df

    checks += [(col(c).isNull(), f"missing_required:{c}") for c in params.required]
    if _quarantines_missing_target(params):
        checks.append((col(target.column).isNull(), f"missing_target:{target.column}"))
    checks += [(is_non_finite(col(c)), f"non_finite:{c}") for c in floats]
    for name, sql in params.rules.items():
        rule = checked_expr(df, sql, f"cleaning.rules.{name}", predicate=True)
        checks.append((~F.coalesce(rule, F.lit(True)), f"rule:{name}"))
    outliers = params.outliers
    for name, spec in outliers.items():
        lower, upper = statistics["outliers"][name]["lower"], statistics["outliers"][name]["upper"]
        if spec.action == "drop" and lower is not None:
            outside = (col(name) < F.lit(lower)) | (col(name) > F.lit(upper))
            checks.append((F.coalesce(outside, F.lit(False)), f"outlier_{spec.method}:{name}"))
    df = df.withColumn(REASON, first_reason(checks))
    df = df.drop(*[f"_orig_{name}" for name in types])

    if params.dedupe is not None:
        df = _tag_duplicates(df, params.dedupe.keys, params.dedupe.order_by, columns)

    fixes = {}
    for name, step in plan["columns"].items():
        fixed = repaired(name, step)
        if fixed is not None:
            fixes[name] = fixed
    if target is not None and target.on_missing == "fill":
        dtypes = dict(df.dtypes)
        name = target.column
        fill = F.coalesce(col(name), F.lit(target.fill_value).cast(dtypes[name]))
        fixes[name] = fill.cast(dtypes[name])
    df = df.withColumns(fixes) if fixes else df

    # Both outputs read this one evaluation of the window and the rules.
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    primary = df.filter(F.col(REASON).isNull()).select(*[col(c) for c in columns])
    quarantine = df.filter(F.col(REASON).isNotNull()).select(*[col(c) for c in columns], REASON)
    return primary, quarantine


def account_cleaning(
    intermediate: DataFrame, primary: DataFrame, quarantine: DataFrame
) -> dict[str, Any]:
    """Returns the stage's row accounting from the written outputs; raises if rows went missing."""
    by_reason = {reason: n for (reason,), n in counts_by(quarantine, [REASON]).items()}
    record = check_stage("cleaning", intermediate.count(), primary.count(), by_reason)
    return {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **record}
