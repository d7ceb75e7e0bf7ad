"""Registry nodes: a new model version, the gate against thresholds and the champion, its update.

The champion is re-scored on the *current* test split with the same code and settings as the
candidate, so the comparison never mixes two test sets. Registering, tagging and the aliases are
the catalog's datasets (ml_lifecycle.datasets.mlflow_registry); these nodes only compute.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import pyarrow.dataset as pads

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.scoring import keras_predictor, score_and_evaluate
from ml_lifecycle.pipelines.registry.params import RegistryParams

from .gate import decide

logger = logging.getLogger(__name__)


def register_model(logged_model: dict[str, Any]) -> dict[str, Any]:
    """Returns what registers the logged model as a new version: its URI and its run."""
    return {"model_uri": logged_model["model_uri"], "run_id": logged_model.get("run_id")}


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


def gate_model(  # noqa: PLR0913 - the candidate, the champion, the data and two settings
    registered: dict[str, Any],
    champion: dict[str, Any] | None,
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    evaluation_params: dict[str, Any],
    params: RegistryParams | dict[str, Any],
) -> dict[str, Any]:
    """Returns the gate's decision for the new version (`champion`: None before the first one)."""
    params = parse(RegistryParams, params, "registry")
    name = registered["name"]
    if params.model_name != name:
        raise ConfigError(
            f"registry.model_name is '{params.model_name}' but the catalog registers '{name}': "
            "set `model_name` in conf/<env>/globals.yml, which both read."
        )
    candidate = _test_metrics(registered["model"], validation, test, statistics, evaluation_params)
    champion_version = champion_metrics = None
    if champion is not None:
        champion_version = champion["model_version"]
        champion_metrics = _test_metrics(
            champion["model"], validation, test, statistics, evaluation_params
        )
    decision = decide(
        name, registered["version"], candidate, champion_metrics, champion_version, params
    )
    metric = params.metric
    logger.info(
        "Gate for %s version %s: %s (%s %.4f%s)",
        name,
        registered["version"],
        "PASSED" if decision["passed"] else "FAILED: " + "; ".join(decision["reasons"]),
        metric,
        candidate.get(metric, float("nan")),
        ""
        if champion_metrics is None
        else f" vs champion v{champion_version} {champion_metrics[metric]:.4f}",
    )
    return decision


def registry_update(decision: dict[str, Any]) -> dict[str, Any]:
    """Returns what the registry records of the decision: the version's tags, pass or fail."""
    tags = {
        "gate": "passed" if decision["passed"] else "failed",
        "gate_reason": "; ".join(decision["reasons"]) or "every check passed",
    }
    tags |= {
        f"test_{check['metric']}": f"{check['value']:.6f}"
        for check in decision["checks"]
        if check["value"] is not None
    }
    return {
        "model_name": decision["model_name"],
        "version": decision["version"],
        "passed": decision["passed"],
        "reasons": list(decision["reasons"]),
        "tags": tags,
    }
