"""Inference nodes: admit a batch once its champion is pinned, score it on Spark, account for it.

The champion is the catalog's `inference.champion` (ml_lifecycle.datasets.ChampionDataset): one
pinned version of the registered model, its run's artifacts, and a Spark UDF of its
`python_function` flavor (raw features in, see ml_lifecycle.model.serving). Rows stay in Spark,
Python workers score them in Arrow batches, and the predictions go straight to Parquet.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.core.quarantine import check_stage, counts_by
from ml_lifecycle.core.spark import col, first_reason, is_non_finite, require_columns
from ml_lifecycle.pipelines.inference.params import Scoring

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
PROBABILITY = "probability_{}"
MODEL_COLUMNS = ("model_name", "model_version", "model_run_id", "scored_at")
CLEANING_STATISTICS = "cleaning_statistics"
# What the champion's JSON record leaves out: the loaded model and the run's artifacts.
NOT_RECORDED = ("udf", "model", "artifacts")


def admit_batch(champion: dict[str, Any], batch: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """Returns the batch's sources as they are, once the champion that scores them is pinned.

    The champion is this node's first input: without one, the run stops here (NoChampionError)
    before anything reads the batch or writes an output of it.
    """
    logger.info("Admitting the batch for %s v%s", champion["model_name"], champion["model_version"])
    return batch


def describe_champion(champion: dict[str, Any]) -> dict[str, Any]:
    """Returns the champion's record: name, version, run, pinned URI, raw-feature schema."""
    record = {k: v for k, v in champion.items() if k not in NOT_RECORDED}
    record["artifacts"] = sorted(k for k, v in (champion.get("artifacts") or {}).items() if v)
    return record


def champion_cleaning_statistics(
    champion: dict[str, Any], fitted: dict[str, Any] | None
) -> dict[str, Any]:
    """Returns the cleaning statistics of the champion's own training run.

    The batch is imputed and clipped with the values the champion was trained with, not with
    whatever the data folder holds now: a later run (a candidate the gate rejected, a retraining
    that failed) may have refitted them. A champion logged by a run without the cleaning stage
    has none; then the data folder's are used, with a warning (`fitted` is None when the folder
    has none either: ConfigError).
    """
    run_id = champion["model_run_id"]
    statistics = (champion.get("artifacts") or {}).get(CLEANING_STATISTICS)
    if statistics is None:
        if fitted is None:
            raise ConfigError(
                f"Champion {champion['model_name']} v{champion['model_version']} was logged by a "
                f"run without the cleaning stage (run {run_id} has no cleaning statistics) and "
                "the data folder has no cleaning_statistics.json either: run `kedro run "
                "--pipelines cleaning` on the training data, or promote a model from a full "
                "`kedro run`."
            )
        logger.warning(
            "Champion %s v%s: its run %s has no cleaning statistics; cleaning the batch with the "
            "data folder's cleaning_statistics (fitted by the last lifecycle run, which may not "
            "be the champion's).",
            champion["model_name"],
            champion["model_version"],
            run_id,
        )
        return fitted
    logger.info(
        "Cleaning the batch with the statistics of %s v%s's run %s",
        champion["model_name"],
        champion["model_version"],
        run_id,
    )
    return statistics


def _is_multiclass(champion: dict[str, Any]) -> bool:
    return len(champion["outputs"]) > 1


def _not_finite(c: Column) -> Column:
    return c.isNull() | F.isnan(c) | is_non_finite(c)


def _argmax(columns: dict[str, str]) -> Column:
    """Returns the class name whose probability column is the largest (the first on ties)."""
    best = F.greatest(*[col(c) for c in columns.values()])
    return F.coalesce(*[F.when(col(c) == best, F.lit(name)) for name, c in columns.items()])


def score_batch(
    batch: DataFrame, champion: dict[str, Any], params: Scoring | dict[str, Any]
) -> tuple[DataFrame, DataFrame]:
    """Returns (scored rows: keys, passthrough, prediction, model columns; unscorable rows).

    `params`: the `inference.scoring` block.
    """
    params = parse(Scoring, params, "inference.scoring")
    features = champion["features"]
    name, version = champion["model_name"], champion["model_version"]
    require_columns(batch.columns, features, f"inference: the features of {name} v{version}")
    keep = list(dict.fromkeys([*params.keys, *params.passthrough]))
    require_columns(batch.columns, keep, "inference.keys/passthrough")

    multiclass = _is_multiclass(champion)
    if multiclass:
        probabilities = {c: PROBABILITY.format(c) for c in champion["outputs"]}
    udf = champion["udf"]
    # A struct hands the model a DataFrame with the signature's column names and types.
    inputs = F.struct(*[col(f).cast(t).alias(f) for f, t in features.items()])
    scored = batch.withColumn("_output", udf(inputs))
    if multiclass:
        scored = scored.withColumns(
            {out: F.col("_output").getField(c) for c, out in probabilities.items()}
        )
        scored = scored.withColumn(PREDICTION, _argmax(probabilities))
        checks = [_not_finite(col(c)) for c in probabilities.values()]
        outputs = [PREDICTION, *probabilities.values()]
    else:
        scored = scored.withColumn(PREDICTION, F.col("_output"))
        checks = [_not_finite(F.col(PREDICTION))]
        outputs = [PREDICTION]
    scored_at = datetime.now(UTC).replace(microsecond=0)
    scored = scored.drop("_output").withColumns(
        {
            "model_name": F.lit(name),
            "model_version": F.lit(version),
            "model_run_id": F.lit(champion["model_run_id"]).cast("string"),
            "scored_at": F.lit(scored_at).cast("timestamp"),
            REASON: first_reason([(reduce(Column.__or__, checks), "non_finite_prediction")]),
        }
    )
    # Both outputs read this one evaluation of the model.
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    predictions = scored.filter(F.col(REASON).isNull()).select(
        *[col(c) for c in keep], *outputs, *MODEL_COLUMNS
    )
    extra = [c for c in (*outputs, *MODEL_COLUMNS) if c not in batch.columns]
    quarantine = scored.filter(F.col(REASON).isNotNull()).select(
        *[col(c) for c in batch.columns], *extra, REASON
    )
    return predictions, quarantine


def account_inference(
    batch: DataFrame, predictions: DataFrame, quarantine: DataFrame, champion: dict[str, Any]
) -> dict[str, Any]:
    """Returns the stage's row accounting (in = scored + quarantined) and the model it used."""
    by_reason = {reason: n for (reason,), n in counts_by(quarantine, [REASON]).items()}
    record = check_stage("inference", batch.count(), predictions.count(), by_reason)
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **record,
        "scored": record["kept"],
        "model_name": champion["model_name"],
        "model_version": champion["model_version"],
        "model_run_id": champion["model_run_id"],
    }
