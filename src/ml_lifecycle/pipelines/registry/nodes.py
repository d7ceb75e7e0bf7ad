"""Registry nodes: a new model version, then the gate: absolute thresholds and the champion.

The champion is re-scored on the *current* test split with the same code and settings as the
candidate, so the comparison never mixes two test sets.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import mlflow
import pyarrow.dataset as pads
from mlflow import MlflowClient

import ml_lifecycle.model.layers  # noqa: F401 - registers the custom layers the models are made of
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.model.scoring import keras_predictor, score_and_evaluate
from ml_lifecycle.tracking import versions as registry

logger = logging.getLogger(__name__)
# Keras safe mode: a model file cannot run arbitrary Python (e.g. a Lambda layer) on load.
SAFE = {"safe_mode": True}


def register_model(logged_model: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Returns the new registry version of the logged model: {name, version, model_uri, run_id}."""
    name = params["model_name"]
    version = registry.register(
        MlflowClient(), logged_model["model_uri"], name, logged_model.get("run_id")
    )
    return {
        "name": name,
        "version": version,
        "model_uri": f"models:/{name}/{version}",
        "run_id": logged_model.get("run_id"),
    }


def _statistics_for(model: keras.Model, statistics: dict[str, Any]) -> dict[str, Any]:
    """Returns `statistics` with the inputs `model` takes (a champion may use other features)."""
    wanted = set(model.input) if isinstance(model.input, dict) else set()
    missing = wanted - set(statistics["numeric"]) - set(statistics["categorical"])
    if missing:
        raise ConfigError(
            f"The champion takes inputs the current data lacks: {sorted(missing)}. "
            "It cannot be re-scored on this test split."
        )
    return {
        **statistics,
        "numeric": {k: v for k, v in statistics["numeric"].items() if k in wanted},
        "categorical": {k: v for k, v in statistics["categorical"].items() if k in wanted},
    }


def _test_metrics(
    model: keras.Model,
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    settings = {**params, "slices": []}
    metrics = score_and_evaluate(
        keras_predictor(model), validation, test, _statistics_for(model, statistics), settings
    )
    return {k: v for k, v in metrics["metrics"].items() if isinstance(v, int | float)}


def gate_model(
    registered: dict[str, Any],
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    evaluation_params: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Returns the gate's decision for the new version; tags it (and `challenger` if it passed)."""
    client, name = MlflowClient(), registered["name"]
    candidate_model = mlflow.keras.load_model(registered["model_uri"], load_model_kwargs=SAFE)
    candidate = _test_metrics(candidate_model, validation, test, statistics, evaluation_params)
    champion_version = registry.alias_version(client, name, registry.CHAMPION)
    champion = None
    if champion_version is not None:
        champion_model = mlflow.keras.load_model(
            f"models:/{name}/{champion_version}", load_model_kwargs=SAFE
        )
        champion = _test_metrics(champion_model, validation, test, statistics, evaluation_params)
    decision = registry.decide(
        name, registered["version"], candidate, champion, champion_version, params
    )
    registry.record_decision(client, decision)
    metric = params["metric"]
    logger.info(
        "Gate for %s version %s: %s (%s %.4f%s)",
        name,
        registered["version"],
        "PASSED" if decision["passed"] else "FAILED: " + "; ".join(decision["reasons"]),
        metric,
        candidate.get(metric, float("nan")),
        "" if champion is None else f" vs champion v{champion_version} {champion[metric]:.4f}",
    )
    return decision
