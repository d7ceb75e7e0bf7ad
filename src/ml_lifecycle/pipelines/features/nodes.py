"""Feature nodes: label, deterministic split, train-only statistics, model-input shards.

The statistics (means, variances, ranges, vocabularies) are fitted in Spark on the train split and
become the state of the model's own preprocessing layers, so the served model takes raw features.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DateType,
    NumericType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from ml_lifecycle.core import drift
from ml_lifecycle.core.columns import LABEL, REASON
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.core.quarantine import StageCounts, account_stage, written_rows
from ml_lifecycle.core.spark import checked_expr, col, first_reason, require_columns, resolving
from ml_lifecycle.pipelines.features.params import (
    FeaturesParams,
    Split,
)
from ml_lifecycle.pipelines.monitoring.params import MonitoringParams

logger = logging.getLogger(__name__)

SPLIT = "split"
SPLITS = ("train", "validation", "test")


def feature_columns(params: FeaturesParams | dict[str, Any]) -> list[str]:
    """Returns the model's input columns in a stable order: numeric, then categorical."""
    return parse(FeaturesParams, params, "features").columns


def validate_feature_params(columns: list[str], params: FeaturesParams | dict[str, Any]) -> None:
    """Raises ConfigError for an invalid key, an unknown column or a leaking feature."""
    params = parse(FeaturesParams, params, "features")
    features = params.columns
    if not features:
        raise ConfigError("features: declare at least one numeric or categorical column.")
    require_columns(columns, features, "features")
    require_columns(columns, params.passthrough, "features.passthrough")
    leaking = sorted(set(features) & set(params.forbidden))
    if leaking:
        raise ConfigError(
            f"features: {leaking} are listed in features.forbidden (known only after the event "
            "the model predicts); remove them from numeric/categorical."
        )
    split = params.split
    if split.method == "time":
        require_columns(columns, [split.time_column], "features.split.time_column")
    # A time split's ids are kept in the table and order its shards.
    require_columns(columns, split.id_columns, "features.split.id_columns")


def _hash_unit(columns: list[str], seed: int) -> Column:
    """Returns a stable pseudo-random number in [0, 1) from the id columns and the seed."""
    hashed = F.xxhash64(F.lit(seed), *[col(c) for c in columns])
    return (F.pmod(hashed, F.lit(1_000_000)) / F.lit(1_000_000.0)).cast("double")


def _time_type(df: DataFrame, column: str) -> DataType:
    """Returns the type of a time split's column: a date, a timestamp or a number."""
    dtype = df.schema[column].dataType
    if not isinstance(dtype, DateType | TimestampType | TimestampNTZType | NumericType):
        raise ConfigError(
            f"features.split.time_column: column '{column}' is {dtype.simpleString()}; a time "
            "split needs a date, timestamp or numeric column (cast it in cleaning.types, or "
            "derive one in ingestion.derived)."
        )
    return dtype


def _cutoff(value: str | float, dtype: DataType, column: str, key: str) -> tuple[Column, Any]:
    """Returns the cut-off `value` as a literal of the column's own type, and as Python's value.

    Raises ConfigError when it is not of that type: a number for a numeric column, an ISO date or
    timestamp for a date or timestamp column.
    """
    where = f"features.split.cutoffs.{key}"
    kind = dtype.simpleString()
    if isinstance(dtype, NumericType):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"{where}: {value!r} is not a number, and the split column '{column}' is {kind}."
            )
        return F.lit(value), value
    parse = date.fromisoformat if isinstance(dtype, DateType) else datetime.fromisoformat
    try:
        parsed = parse(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        shape = "YYYY-MM-DD" if isinstance(dtype, DateType) else "YYYY-MM-DD[ HH:MM[:SS]]"
        raise ConfigError(
            f"{where}: {value!r} is not a {kind} ({shape}), the type of the split column "
            f"'{column}'."
        )
    # Spark reads the ISO text in the session's time zone, as it reads the column's own values.
    return F.lit(parsed.isoformat()).cast(dtype), parsed


def _order_key(column: str, dtype: DataType) -> Column:
    """Returns the split column as a number that orders like it (days, seconds, the value)."""
    if isinstance(dtype, DateType):
        return F.unix_date(col(column)).cast("double")
    if isinstance(dtype, TimestampNTZType):
        return col(column).cast("timestamp").cast("double")
    return col(column).cast("double")


def _time_split(df: DataFrame, column: str, split: Split) -> tuple[Column, Column, Column]:
    """Returns (the value compared, the validation cut-off, the test cut-off) in one type."""
    dtype = _time_type(df, column)
    if split.cutoffs is not None:
        cutoffs = split.cutoffs
        validation, first = _cutoff(cutoffs.validation, dtype, column, "validation")
        test, last = _cutoff(cutoffs.test, dtype, column, "test")
        try:
            ordered = first <= last
        except TypeError:  # one timestamp with a time zone, one without: Spark compares them
            ordered = True
        if not ordered:
            raise ConfigError(
                f"features.split.cutoffs: validation ({cutoffs.validation!r}) comes after test "
                f"({cutoffs.test!r}); the validation rows lie between the two."
            )
        return col(column), validation, test
    fractions = split.fractions
    key = _order_key(column, dtype)
    first = fractions.train
    second = first + fractions.validation
    # Only two quantiles reach the driver (none of a column with no value).
    quantiles = df.select(key.alias("t")).approxQuantile("t", [first, second], 1e-4)
    if len(quantiles) < 2:
        quantiles = [None, None]
    return key, F.lit(quantiles[0]), F.lit(quantiles[1])


def _split_column(df: DataFrame, split: Split) -> Column:
    if split.method == "time":
        value, validation_from, test_from = _time_split(df, split.time_column, split)
        return (
            F.when(value < validation_from, "train")
            .when(value < test_from, "validation")
            .when(value.isNotNull(), "test")
        )
    fractions = split.fractions  # a random split has them (FeaturesParams checks)
    unit = _hash_unit(split.id_columns, split.seed)
    first = fractions.train
    second = first + fractions.validation
    return F.when(unit < first, "train").when(unit < second, "validation").otherwise("test")


def assign_split(validated: DataFrame, params: dict[str, Any]) -> tuple[DataFrame, DataFrame]:
    """Returns (the feature table with `label` and `split`, the rows with no label or split)."""
    table, quarantine, _ = assign_split_and_count(validated, params)
    return table, quarantine


def assign_split_and_count(
    validated: DataFrame, params: dict[str, Any]
) -> tuple[DataFrame, DataFrame, StageCounts]:
    """Returns `assign_split`'s two tables and the rows of both as Spark counts them while it
    writes them (the table's by split, the quarantine's by reason)."""
    params = parse(FeaturesParams, params, "features")
    validate_feature_params(validated.columns, params)
    label = checked_expr(validated, params.label, "features.label")
    if params.task == "regression":
        label = label.cast("double")
    else:
        label = label.cast("int")
    split = params.split
    with resolving("features.split", validated.columns):
        labelled = validated.withColumn(LABEL, label).withColumn(
            SPLIT, _split_column(validated, split)
        )
    checks = [
        (col(LABEL).isNull(), "missing_label"),
        (col(SPLIT).isNull(), f"missing_split_key:{split.time_column or 'id'}"),
    ]
    tagged = labelled.withColumn(REASON, first_reason(checks))
    keep = [*split.id_columns, *params.passthrough, *params.columns, LABEL, SPLIT]
    table = tagged.filter(col(REASON).isNull()).select(*[col(c) for c in dict.fromkeys(keep)])
    quarantine = tagged.filter(col(REASON).isNotNull()).drop(LABEL, SPLIT)
    counts = StageCounts()
    table = counts.by_reason(table, "kept", SPLITS, SPLIT)
    quarantine = counts.by_reason(quarantine, "quarantined", [r for _, r in checks])
    return table, quarantine, counts


def _numeric_aggs(numeric: dict[str, str], bins: int, train: Column) -> list[Column]:
    """The aggregates of each numeric column over the rows where `train` holds."""
    aggs = []
    quantiles = [i / bins for i in range(1, bins)] if bins > 1 else []
    for name, method in numeric.items():
        value = col(name).cast("double")
        value = F.when(train & ~F.isnan(value), value)
        if quantiles:  # bin edges of the raw value, in the same pass
            aggs.append(F.percentile_approx(value, quantiles, 10_000).alias(f"{name}__edges"))
        if method == "log_zscore":
            # log1p of the non-negative part: the model applies the same transform. (`greatest`
            # skips nulls, so a missing value must stay missing explicitly.)
            value = F.when(value.isNotNull(), F.log1p(F.greatest(value, F.lit(0.0))))
        aggs += [
            F.avg(value).alias(f"{name}__mean"),
            F.var_pop(value).alias(f"{name}__variance"),
            F.min(value).alias(f"{name}__min"),
            F.max(value).alias(f"{name}__max"),
            F.count(value).alias(f"{name}__count"),
            F.avg(F.when(train, col(name).cast("double"))).alias(f"{name}__raw_mean"),
        ]
    return aggs


def _numeric_stats(
    row: dict[str, Any], numeric: dict[str, str], bins: int = 0
) -> dict[str, dict[str, Any]]:
    """Returns each numeric column's statistics from the aggregates of `_numeric_aggs`."""
    quantiles = bins > 1
    stats = {}
    for name, method in numeric.items():
        if row[f"{name}__count"] == 0:
            raise ConfigError(f"features.numeric.{name}: the train split has no value of it.")
        stats[name] = {
            "normalization": method,
            "mean": float(row[f"{name}__mean"]),
            "variance": float(row[f"{name}__variance"] or 0.0),
            "min": float(row[f"{name}__min"]),
            "max": float(row[f"{name}__max"]),
            # A missing value at serving time is filled with the raw train mean.
            "fill": float(row[f"{name}__raw_mean"]),
            "count": int(row[f"{name}__count"]),
        }
        if quantiles:
            # Distinct edges only: a column with few values gets fewer bins.
            stats[name]["bin_edges"] = sorted({float(e) for e in row[f"{name}__edges"] or []})
    return stats


def _category_key(df: DataFrame, name: str) -> tuple[Column | None, Column | None]:
    """Returns the column as (text, integer): one of them set, so each kind orders as itself."""
    dtype = df.schema[name].dataType
    if isinstance(dtype, StringType):
        return col(name), None
    if isinstance(dtype, NumericType):
        return None, col(name)
    raise ConfigError(f"features.categorical.{name}: type {dtype.simpleString()} unsupported.")


LABEL_COUNTS = "__label__"


def fit_feature_statistics(feature_table: DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Returns the statistics of the train split: numeric moments, vocabularies, label balance."""
    return _fit(feature_table, params, None)[0]


def fit_statistics_and_reference(
    feature_table: DataFrame, params: dict[str, Any], monitoring: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns the statistics of the train split and the drift reference, in two passes.

    Statistics: numeric moments and bin edges, vocabularies and label balance of the train split.
    The drift reference: every model feature's binned distribution over all splits, logged with
    the run (MLflow artifact `monitoring/reference_profile.json`) so the model registered from
    the run carries the data it was developed on; `monitoring` compares new batches with the
    champion's own reference (ml_lifecycle.core.drift).

    One aggregation computes the moments, both sets of quantiles and the rows per split; one
    grouped count the vocabularies, the class counts and the reference's bin and value counts.
    """
    statistics, reference = _fit(
        feature_table, params, parse(MonitoringParams, monitoring, "monitoring")
    )
    logger.info(
        "Drift reference: %s columns over %s rows", len(reference["columns"]), reference["rows"]
    )
    return statistics, reference


def _fit(
    table: DataFrame, params: dict[str, Any], monitoring: MonitoringParams | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    params = parse(FeaturesParams, params, "features")
    is_train = col(SPLIT) == F.lit("train")
    numeric_names = list(params.numeric)
    aggs = _numeric_aggs(params.numeric, params.numeric_bins, is_train)
    aggs += [F.count(F.when(col(SPLIT) == F.lit(s), 1)).alias(f"split__{s}") for s in SPLITS]
    if monitoring is not None:
        aggs += [F.count(F.lit(1)).alias("rows")]
        aggs += drift.edge_aggregates(table, numeric_names, monitoring.bins)
    regression = params.task == "regression"
    if regression:
        train_label = F.when(is_train, col(LABEL))
        aggs += [
            F.count(train_label).alias("label__n"),
            F.avg(train_label).alias("label__mean"),
            F.stddev_pop(train_label).alias("label__std"),
        ]
    row = table.agg(*aggs).first().asDict()  # one row of aggregates
    rows_by_split = {s: row[f"split__{s}"] for s in SPLITS}
    if rows_by_split["train"] == 0:
        raise ConfigError("features.split: the train split is empty; check the cut-offs.")
    numeric = _numeric_stats(row, params.numeric, params.numeric_bins)

    counted = []
    for name, spec in params.categorical.items():
        text, number = _category_key(table, name)
        counted.append(
            drift.Counted(name, text, number, spec.top_k, spec.min_count, where=is_train)
        )
    if not regression:  # every class: a task has few of them
        counted.append(drift.Counted(LABEL_COUNTS, number=col(LABEL), where=is_train))
    if monitoring is not None:
        edges = drift.edges_from_row(row, numeric_names)
        categorical_names = list(params.categorical)
        max_values = monitoring.max_categories
        counted += drift.counted_for_profile(table, edges, categorical_names, max_values)
    found = drift.count_values(table, counted)

    categorical = {}
    for name in params.categorical:
        kind = "string" if isinstance(table.schema[name].dataType, StringType) else "integer"
        categorical[name] = {
            "kind": kind,
            "vocabulary": [v for v, _ in found[name]],
            "counts": [n for _, n in found[name]],
        }
    if regression:
        mean, std = row["label__mean"], row["label__std"]
        label = {"rows": int(row["label__n"]), "mean": float(mean), "std": float(std)}
    else:
        by_class = {int(k): n for k, n in found[LABEL_COUNTS]}
        label = {"rows": sum(by_class.values()), "class_counts": dict(sorted(by_class.items()))}
    if label["rows"] == 0:
        raise ConfigError("features.split: the train split is empty; check the cut-offs.")
    logger.info("Split sizes: %s; label: %s", rows_by_split, label)
    statistics = {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fitted_on": "train",
        "task": params.task,
        "class_names": params.class_names,
        "rows_by_split": rows_by_split,
        "label": label,
        "numeric": numeric,
        "categorical": categorical,
    }
    reference = None
    if monitoring is not None:
        reference = drift.assemble_profile(
            found, edges, categorical_names, max_values, int(row["rows"])
        )
    return statistics, reference


def make_model_input(
    feature_table: DataFrame, statistics: dict[str, Any], params: dict[str, Any]
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Returns the train, validation and test splits, rows spread over shards in a stable order.

    Rows are hash-partitioned on their id (not on time), so each shard mixes the whole period and
    streaming the shards in a shuffled order is close to a random pass over the split.
    """
    params = parse(FeaturesParams, params, "features")
    split = params.split
    ids = split.id_columns or params.columns
    order = F.xxhash64(F.lit(split.seed), *[col(c) for c in ids])
    rows = params.rows_per_shard
    sizes = statistics["rows_by_split"]
    out = []
    for name in SPLITS:
        part = feature_table.filter(col(SPLIT) == name).drop(SPLIT).withColumn("_order", order)
        shards = max(1, -(-sizes.get(name, 0) // rows))
        out.append(part.repartition(shards, "_order").sortWithinPartitions("_order").drop("_order"))
    return out[0], out[1], out[2]


def account_features(
    validated: DataFrame, feature_table: DataFrame, quarantine: DataFrame, counts: StageCounts
) -> dict[str, Any]:
    """Returns the stage's row accounting from the written outputs; raises if rows went missing.

    Rows in and out come from the Parquet footers of the three tables; the rows per split and
    the quarantine's reasons are what Spark counted while it wrote them.
    """
    kept = counts.get("kept")
    record = account_stage(
        "features",
        written_rows(validated),
        feature_table,
        kept,
        quarantine,
        counts.get("quarantined"),
    )
    by_split = {s: kept["by_reason"].get(s, 0) for s in SPLITS}
    empty = [s for s in SPLITS if not by_split[s]]
    if empty and record["kept"]:
        raise ConfigError(
            f"features.split: no rows fell in the {' and '.join(empty)} split (rows per split: "
            f"{by_split}); with a time split the data's dates must reach features.split.cutoffs: "
            "move them, or use features.split.fractions."
        )
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **record,
        "kept_by_split": by_split,
    }
