"""Cleaning nodes: fit statistics in Spark, apply the declared rules, account for every row.

Statistics (imputation values, outlier bounds) are fitted once and stored, so a new batch is
cleaned with the numbers of the data the model was trained on, not with its own. How many values
of the kept rows were clipped and imputed, per column, Spark counts while it writes the clean
table (`DataFrame.observe`): the row accounting reports them without a pass of its own.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, Window
from pyspark.sql import functions as F

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.core.quarantine import StageCounts, account_stage, written_rows
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
from ml_lifecycle.pipelines.cleaning.params import (
    CleaningParams,
    ConstantImpute,
    IqrOutlier,
    Target,
)
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


def _repairs(
    df: DataFrame, plan: dict[str, Any], target: Target | None
) -> tuple[dict[str, Column], dict[str, list], list[str]]:
    """Returns ({column: repaired value}, {column: clip bounds}, [columns imputed])."""
    fixes = {}
    clips: dict[str, list] = {}
    imputed: list[str] = []
    for name, step in plan["columns"].items():
        fixed = repaired(name, step)
        if fixed is None:
            continue
        fixes[name] = fixed
        if step["clip"] is not None:
            clips[name] = step["clip"]
        if step["impute"] is not None:
            imputed.append(name)
    if target is not None and target.on_missing == "fill":
        dtypes = dict(df.dtypes)
        name = target.column
        fill = F.coalesce(col(name), F.lit(target.fill_value).cast(dtypes[name]))
        fixes[name] = fill.cast(dtypes[name])
        if name not in imputed:
            imputed.append(name)
    return fixes, clips, imputed


class RepairCounts:
    """Per column, how many values of the kept rows were clipped (below, above) and imputed.

    Spark computes them while it runs the first action on the clean table, its write
    (`DataFrame.observe`), so they cost no pass of their own; `counts()` reads them after that.
    Kedro hands this object from node to node in memory: a copy is the object itself.
    """

    def __init__(
        self,
        observation: Observation | None,
        clipped: list[str],
        imputed: list[str],
        stage: StageCounts | None = None,
    ) -> None:
        self._observation, self._clipped, self._imputed = observation, clipped, imputed
        # The rows of both outputs, counted while they are written.
        self.stage = stage or StageCounts()

    def __deepcopy__(self, memo: dict[int, Any]) -> RepairCounts:
        return self

    @staticmethod
    def metrics(clips: dict[str, list], imputed: list[str]) -> list[Column]:
        """The aggregates observed on the kept rows, before they are clipped and imputed."""
        metrics = []
        for name, (lower, upper) in clips.items():
            metrics += [
                F.count(F.when(col(name) < F.lit(lower), 1)).alias(f"below:{name}"),
                F.count(F.when(col(name) > F.lit(upper), 1)).alias(f"above:{name}"),
            ]
        metrics += [F.count(F.when(col(c).isNull(), 1)).alias(f"null:{c}") for c in imputed]
        return metrics

    def counts(self) -> dict[str, Any] | None:
        """Returns {clipped: {column: {below, above}}, imputed: {column: n}}; None if unobserved.

        Blocks until the first action on the clean table has finished: call it once that table
        is written (or counted). None when Spark reported no metrics (a Spark Connect client
        may get none for a write).
        """
        if self._observation is None:
            values: dict[str, Any] = {}
        else:
            values = self._observation.get
            if not values:
                return None
        return {
            "clipped": {
                name: {"below": values[f"below:{name}"], "above": values[f"above:{name}"]}
                for name in self._clipped
            },
            "imputed": {name: values[f"null:{name}"] for name in self._imputed},
        }


def clean(
    intermediate: DataFrame, statistics: dict[str, Any] | None, params: dict[str, Any]
) -> tuple[DataFrame, DataFrame]:
    """Returns (clean rows, quarantined rows with `_reason`) after every declared rule."""
    primary, quarantine, _ = clean_and_count(intermediate, statistics, params)
    return primary, quarantine


def clean_and_count(
    intermediate: DataFrame, statistics: dict[str, Any] | None, params: dict[str, Any]
) -> tuple[DataFrame, DataFrame, RepairCounts]:
    """Returns `clean`'s two tables and the counts of clipped and imputed values of the first."""
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
    reasons = [reason for _, reason in checks]

    # Not persisted: each output reads the intermediate Parquet and evaluates the rules again,
    # which measured cheaper than filling a cache of the whole table (benchmarks/lifecycle.py).
    if params.dedupe is not None:
        df = _tag_duplicates(df, params.dedupe.keys, params.dedupe.order_by, columns)
        reasons.append(f"duplicate_key:{'+'.join(params.dedupe.keys)}")

    fixes, clips, imputed = _repairs(df, plan, target)

    stage = StageCounts()
    kept = stage.rows(df.filter(F.col(REASON).isNull()), "kept")
    observation = None
    metrics = RepairCounts.metrics(clips, imputed)
    if metrics:
        # Counted on the values as they come, in the job that writes the clean table.
        observation = Observation()
        kept = kept.observe(observation, *metrics)
    rejected = stage.by_reason(df.filter(F.col(REASON).isNotNull()), "quarantined", reasons)
    if fixes:
        kept, rejected = kept.withColumns(fixes), rejected.withColumns(fixes)
    primary = kept.select(*[col(c) for c in columns])
    quarantine = rejected.select(*[col(c) for c in columns], REASON)
    return primary, quarantine, RepairCounts(observation, list(clips), imputed, stage)


def account_cleaning(
    intermediate: DataFrame,
    primary: DataFrame,
    quarantine: DataFrame,
    repairs: RepairCounts,
) -> dict[str, Any]:
    """Returns the stage's row accounting from the written outputs; raises if rows went missing.

    Rows in and out come from the Parquet footers of `intermediate`, `primary` and `quarantine`,
    and must agree with what Spark counted while it wrote them (no scan of its own). The record
    also holds how many values of the kept rows were clipped (below, above) and
    imputed, per column: `clipped: {column: {below, above}}`, `imputed: {column: n}` (absent when
    Spark reported no metrics).
    """
    stage = repairs.stage
    # `in` from the input's footers: what the stage read, whatever its logic did with it.
    record = account_stage(
        "cleaning",
        written_rows(intermediate),
        primary,
        stage.get("kept"),
        quarantine,
        stage.get("quarantined"),
    )
    counts = repairs.counts()  # after the counts above: the clean table has been acted on
    if counts is not None:
        record.update(counts)
        clipped = sum(n for sides in counts["clipped"].values() for n in sides.values())
        logger.info(
            "cleaning: %s values clipped, %s imputed",
            f"{clipped:,}",
            f"{sum(counts['imputed'].values()):,}",
        )
    return {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **record}
