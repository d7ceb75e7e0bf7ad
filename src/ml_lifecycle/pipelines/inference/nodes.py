"""Inference nodes: pin the champion's version, score a clean batch on Spark, account for it.

The model is MLflow's `python_function` flavor of the registered champion (raw features in, see
ml_lifecycle.model.serving), applied with `mlflow.pyfunc.spark_udf`: rows stay in Spark, Python
workers score them in Arrow batches, and the predictions go straight to Parquet.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import reduce
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from ml_lifecycle.core.columns import REASON
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.quarantine import check_stage, counts_by
from ml_lifecycle.core.spark import col, first_reason, is_non_finite, require_columns
from ml_lifecycle.tracking.versions import CHAMPION, champion_uri

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
PROBABILITY = "probability_{}"
MODEL_COLUMNS = ("model_name", "model_version", "model_run_id", "scored_at")
# MLflow signature column types -> the Spark type each feature is cast to before scoring.
SPARK_TYPES = {
    "double": "double",
    "float": "float",
    "long": "bigint",
    "integer": "int",
    "string": "string",
    "boolean": "boolean",
    "datetime": "timestamp",
}


CLEANING_STATISTICS = "cleaning/cleaning_statistics.json"


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
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CLEANING_STATISTICS)
    except Exception:  # noqa: BLE001 - MlflowException or OSError: same fallback
        if fitted is None:
            raise ConfigError(
                f"Champion {champion['model_name']} v{champion['model_version']} was logged by a "
                f"run without the cleaning stage (run {run_id} has no {CLEANING_STATISTICS}) and "
                "the data folder has no cleaning_statistics.json either: run `kedro run "
                "--pipelines cleaning` on the training data, or promote a model from a full "
                "`kedro run`."
            ) from None
        logger.warning(
            "Champion %s v%s: its run %s has no %s; cleaning the batch with the data folder's "
            "cleaning_statistics (fitted by the last lifecycle run, which may not be the "
            "champion's).",
            champion["model_name"],
            champion["model_version"],
            run_id,
            CLEANING_STATISTICS,
        )
        return fitted
    with open(path, encoding="utf-8") as handle:
        statistics = json.load(handle)
    logger.info(
        "Cleaning the batch with the statistics of %s v%s's run %s",
        champion["model_name"],
        champion["model_version"],
        run_id,
    )
    return statistics


def find_champion(model_name: str) -> dict[str, Any]:
    """Returns the champion's version, run, pinned URI and raw-feature schema, resolved once.

    Scoring uses `models:/<name>/<version>`, not the alias: a promotion during the run cannot
    mix two versions in one batch.
    """
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        champion_uri(client, model_name)  # raises NoChampionError, saying how to get one
        raise
    uri = f"models:/{model_name}/{version.version}"
    info = mlflow.models.get_model_info(uri)
    if info.signature is None or info.signature.inputs is None:
        raise ConfigError(
            f"{uri} has no input signature: log models with ml_lifecycle.model.serving.log_model."
        )
    features = {spec.name: SPARK_TYPES[spec.type.name] for spec in info.signature.inputs.inputs}
    outputs = [spec.name for spec in info.signature.outputs.inputs]
    metadata = info.metadata or {}
    champion = {
        "model_name": model_name,
        "alias": CHAMPION,
        "model_version": str(version.version),
        "model_run_id": version.run_id,
        "model_uri": uri,
        "source": version.source,
        "task": metadata.get("task"),
        "outputs": outputs,
        "features": features,
        "resolved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    logger.info("Scoring with %s version %s (run %s)", model_name, version.version, version.run_id)
    return champion


def _is_multiclass(champion: dict[str, Any]) -> bool:
    return champion["outputs"] != [PREDICTION]


def _not_finite(c: Column) -> Column:
    return c.isNull() | F.isnan(c) | is_non_finite(c)


def _argmax(columns: dict[str, str]) -> Column:
    """Returns the class name whose probability column is the largest (the first on ties)."""
    best = F.greatest(*[col(c) for c in columns.values()])
    return F.coalesce(*[F.when(col(c) == best, F.lit(name)) for name, c in columns.items()])


def score_batch(
    batch: DataFrame, champion: dict[str, Any], params: dict[str, Any]
) -> tuple[DataFrame, DataFrame]:
    """Returns (scored rows: keys, passthrough, prediction, model columns; unscorable rows)."""
    features = champion["features"]
    name, version = champion["model_name"], champion["model_version"]
    require_columns(batch.columns, features, f"inference: the features of {name} v{version}")
    keep = list(dict.fromkeys([*params.get("keys", []), *params.get("passthrough", [])]))
    require_columns(batch.columns, keep, "inference.keys/passthrough")

    multiclass = _is_multiclass(champion)
    if multiclass:
        probabilities = {c: PROBABILITY.format(c) for c in champion["outputs"]}
        result_type = StructType([StructField(c, DoubleType()) for c in champion["outputs"]])
    else:
        result_type = DoubleType()
    udf = mlflow.pyfunc.spark_udf(
        batch.sparkSession,
        champion["model_uri"],
        result_type=result_type,
        env_manager=params.get("env_manager", "local"),
    )
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
