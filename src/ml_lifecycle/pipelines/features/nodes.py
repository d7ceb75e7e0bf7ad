"""Feature nodes: label, deterministic split, train-only statistics, model-input shards.

The statistics (means, variances, ranges, vocabularies) are fitted in Spark on the train split and
become the state of the model's own preprocessing layers, so the served model takes raw features.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from ml_lifecycle.core import drift
from ml_lifecycle.core.columns import LABEL, REASON
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.quarantine import check_stage, counts_by
from ml_lifecycle.core.spark import checked_expr, col, first_reason, require_columns

logger = logging.getLogger(__name__)

SPLIT = "split"
SPLITS = ("train", "validation", "test")
TASKS = ("binary", "multiclass", "regression")
NORMALIZATIONS = ("zscore", "minmax", "log_zscore", "none")


def feature_columns(params: dict[str, Any]) -> list[str]:
    """Returns the model's input columns in a stable order: numeric, then categorical."""
    return list(params.get("numeric") or {}) + list(params.get("categorical") or {})


def validate_feature_params(columns: list[str], params: dict[str, Any]) -> None:
    """Raises ConfigError for an unknown task, normalization, column or a leaking feature."""
    if params.get("task") not in TASKS:
        raise ConfigError(f"features.task must be one of {TASKS}, not {params.get('task')!r}.")
    if params["task"] == "multiclass" and not params.get("class_names"):
        raise ConfigError("features.class_names: a multiclass task needs the names of its classes.")
    for name, method in (params.get("numeric") or {}).items():
        if method not in NORMALIZATIONS:
            raise ConfigError(
                f"features.numeric.{name}: normalization {method!r} is not one of {NORMALIZATIONS}."
            )
    features = feature_columns(params)
    if not features:
        raise ConfigError("features: declare at least one numeric or categorical column.")
    require_columns(columns, features, "features")
    require_columns(columns, params.get("passthrough") or [], "features.passthrough")
    leaking = sorted(set(features) & set(params.get("forbidden") or []))
    if leaking:
        raise ConfigError(
            f"features: {leaking} are listed in features.forbidden (known only after the event "
            "the model predicts); remove them from numeric/categorical."
        )
    split = params.get("split") or {}
    if split.get("method") == "time":
        require_columns(columns, [split.get("time_column", "")], "features.split.time_column")
    elif split.get("method") == "random":
        require_columns(columns, split.get("id_columns") or [], "features.split.id_columns")
    else:
        raise ConfigError("features.split.method must be 'time' or 'random'.")


def _hash_unit(columns: list[str], seed: int) -> Column:
    """Returns a stable pseudo-random number in [0, 1) from the id columns and the seed."""
    hashed = F.xxhash64(F.lit(seed), *[col(c) for c in columns])
    return (F.pmod(hashed, F.lit(1_000_000)) / F.lit(1_000_000.0)).cast("double")


def _time_cutoffs(df: DataFrame, column: str, split: dict[str, Any]) -> tuple[Column, Column]:
    if split.get("cutoffs"):
        cutoffs = split["cutoffs"]
        return F.to_timestamp(F.lit(cutoffs["validation"])), F.to_timestamp(F.lit(cutoffs["test"]))
    fractions = split["fractions"]
    seconds = col(column).cast("double")
    first = fractions["train"]
    second = first + fractions["validation"]
    # Only two quantiles reach the driver.
    q1, q2 = df.select(seconds.alias("t")).approxQuantile("t", [first, second], 1e-4)
    return F.lit(q1).cast("timestamp"), F.lit(q2).cast("timestamp")


def _split_column(df: DataFrame, split: dict[str, Any]) -> Column:
    if split["method"] == "time":
        column = split["time_column"]
        validation_from, test_from = _time_cutoffs(df, column, split)
        value = col(column)
        return (
            F.when(value < validation_from, "train")
            .when(value < test_from, "validation")
            .when(value.isNotNull(), "test")
        )
    fractions = split.get("fractions") or {"train": 0.7, "validation": 0.1, "test": 0.2}
    unit = _hash_unit(split["id_columns"], int(split.get("seed", 0)))
    first = fractions["train"]
    second = first + fractions["validation"]
    return F.when(unit < first, "train").when(unit < second, "validation").otherwise("test")


def assign_split(validated: DataFrame, params: dict[str, Any]) -> tuple[DataFrame, DataFrame]:
    """Returns (the feature table with `label` and `split`, the rows with no label or split)."""
    validate_feature_params(validated.columns, params)
    label = checked_expr(validated, params["label"], "features.label")
    if params["task"] == "regression":
        label = label.cast("double")
    else:
        label = label.cast("int")
    split = params["split"]
    labelled = validated.withColumn(LABEL, label).withColumn(SPLIT, _split_column(validated, split))
    reason = first_reason(
        [
            (col(LABEL).isNull(), "missing_label"),
            (col(SPLIT).isNull(), f"missing_split_key:{split.get('time_column', 'id')}"),
        ]
    )
    tagged = labelled.withColumn(REASON, reason)
    ids = split.get("id_columns") or []
    keep = [*ids, *(params.get("passthrough") or []), *feature_columns(params), LABEL, SPLIT]
    table = tagged.filter(col(REASON).isNull()).select(*[col(c) for c in dict.fromkeys(keep)])
    quarantine = tagged.filter(col(REASON).isNotNull()).drop(LABEL, SPLIT)
    return table, quarantine


def _numeric_stats(
    train: DataFrame, numeric: dict[str, str], bins: int = 0
) -> dict[str, dict[str, Any]]:
    aggs = []
    quantiles = [i / bins for i in range(1, bins)] if bins > 1 else []
    for name, method in numeric.items():
        value = col(name).cast("double")
        value = F.when(F.isnan(value), None).otherwise(value)
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
            F.avg(col(name).cast("double")).alias(f"{name}__raw_mean"),
        ]
    if not aggs:
        return {}
    row = train.agg(*aggs).first().asDict()  # one row of aggregates
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


def _vocabulary(train: DataFrame, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    dtype = train.schema[name].dataType
    if not isinstance(dtype, StringType | NumericType):
        raise ConfigError(f"features.categorical.{name}: type {dtype.simpleString()} unsupported.")
    kind = "string" if isinstance(dtype, StringType) else "integer"
    value = col(name) if kind == "string" else col(name).cast("long")
    counts = (
        train.select(value.alias("v"))
        .filter(F.col("v").isNotNull())
        .groupBy("v")
        .count()
        .filter(F.col("count") >= int(spec.get("min_count", 1)))
        .orderBy(F.col("count").desc(), F.col("v"))
        .limit(int(spec.get("top_k", 1000)))
        .collect()  # at most top_k rows
    )
    return {
        "kind": kind,
        "vocabulary": [row["v"] for row in counts],
        "counts": [row["count"] for row in counts],
    }


def fit_feature_statistics(feature_table: DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Returns the statistics of the train split: numeric moments, vocabularies, label balance."""
    train = feature_table.filter(col(SPLIT) == "train")
    numeric = _numeric_stats(
        train, params.get("numeric") or {}, int(params.get("numeric_bins") or 0)
    )
    categorical = {
        name: _vocabulary(train, name, spec or {})
        for name, spec in (params.get("categorical") or {}).items()
    }
    if params["task"] == "regression":
        row = train.agg(
            F.count(LABEL).alias("n"), F.avg(LABEL).alias("mean"), F.stddev_pop(LABEL).alias("std")
        ).first()
        label = {"rows": int(row["n"]), "mean": float(row["mean"]), "std": float(row["std"])}
    else:
        by_class = {int(k): n for (k,), n in counts_by(train, [LABEL]).items()}
        label = {"rows": sum(by_class.values()), "class_counts": dict(sorted(by_class.items()))}
    if label["rows"] == 0:
        raise ConfigError("features.split: the train split is empty; check the cut-offs.")
    rows_by_split = {split: n for (split,), n in counts_by(feature_table, [SPLIT]).items()}
    logger.info("Split sizes: %s; label: %s", rows_by_split, label)
    return {
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fitted_on": "train",
        "task": params["task"],
        "class_names": params.get("class_names"),
        "rows_by_split": {s: rows_by_split.get(s, 0) for s in SPLITS},
        "label": label,
        "numeric": numeric,
        "categorical": categorical,
    }


def make_model_input(
    feature_table: DataFrame, statistics: dict[str, Any], params: dict[str, Any]
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Returns the train, validation and test splits, rows spread over shards in a stable order.

    Rows are hash-partitioned on their id (not on time), so each shard mixes the whole period and
    streaming the shards in a shuffled order is close to a random pass over the split.
    """
    split = params["split"]
    ids = split.get("id_columns") or feature_columns(params)
    order = F.xxhash64(F.lit(int(split.get("seed", 0))), *[col(c) for c in ids])
    rows = int(params.get("rows_per_shard", 65536))
    sizes = statistics["rows_by_split"]
    out = []
    for name in SPLITS:
        part = feature_table.filter(col(SPLIT) == name).drop(SPLIT).withColumn("_order", order)
        shards = max(1, -(-sizes.get(name, 0) // rows))
        out.append(part.repartition(shards, "_order").sortWithinPartitions("_order").drop("_order"))
    return out[0], out[1], out[2]


def account_features(
    validated: DataFrame, feature_table: DataFrame, quarantine: DataFrame
) -> dict[str, Any]:
    """Returns the stage's row accounting from the written outputs; raises if rows went missing."""
    by_reason = {reason: n for (reason,), n in counts_by(quarantine, [REASON]).items()}
    by_split = {split: n for (split,), n in counts_by(feature_table, [SPLIT]).items()}
    record = check_stage("features", validated.count(), sum(by_split.values()), by_reason)
    empty = [s for s in SPLITS if not by_split.get(s)]
    if empty and record["kept"]:
        raise ConfigError(
            f"features.split: no rows fell in the {' and '.join(empty)} split (rows per split: "
            f"{ {s: by_split.get(s, 0) for s in SPLITS} }); with a time split the data's dates "
            "must reach features.split.cutoffs: move them, or use features.split.fractions."
        )
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **record,
        "kept_by_split": {s: by_split.get(s, 0) for s in SPLITS},
    }


def profile_reference(
    table: DataFrame, params: dict[str, Any], monitoring: dict[str, Any]
) -> dict[str, Any]:
    """Returns the drift reference: every model feature's binned distribution over all splits.

    It is logged with the run (MLflow artifact `monitoring/reference_profile.json`), so the model
    registered from the run carries the data it was developed on; `monitoring` compares new
    batches with the champion's own reference (ml_lifecycle.core.drift).
    """
    reference = drift.profile(
        table,
        numeric=list(params.get("numeric") or {}),
        categorical=list(params.get("categorical") or {}),
        bins=int(monitoring.get("bins", 10)),
        max_values=int(monitoring.get("max_categories", 1000)),
    )
    logger.info(
        "Drift reference: %s columns over %s rows", len(reference["columns"]), reference["rows"]
    )
    return reference
