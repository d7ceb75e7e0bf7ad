"""Iterate nodes: decide whether the champion needs a successor, and start its training run.

The retraining is a Kedro run of its own (`iterate.retrain.pipelines` on the window of data that
the runtime parameters in `iterate.retrain.window` point the sources at), started as a child
process with the parent's env and runtime parameters. Its MLflow run is a child of the iterate
run, and the registry gate decides about its model exactly as in any other run. Kedro has no
conditional nodes: a run that decides to skip training cannot drop nodes from its own DAG, so the
retraining is a run that starts or not.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.hooks import PARENT_RUN_ENV, current_run_params

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = {"rmse"}


def decide_iteration(
    drift_report: dict[str, Any], performance: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Returns {retrain, reasons, checks}: every trigger checked, with its numbers."""
    triggers = params.get("triggers") or {}
    reasons, checks = [], []

    watched = triggers.get("drift", "any")
    if watched:
        columns = set(drift_report["columns"])
        if watched != "any":
            unknown = sorted(set(watched) - columns)
            if unknown:
                raise ConfigError(f"iterate.triggers.drift: {unknown} are not monitored columns.")
            columns = set(watched)
        over = {c: r for c, r in drift_report["over"].items() if c in columns}
        # Past a threshold but within sampling noise: shown, never a reason.
        noise = {c: r for c, r in (drift_report.get("within_noise") or {}).items() if c in columns}
        checks.append({"trigger": "drift", "columns": watched, "over": over, "within_noise": noise})
        reasons += [f"drift: {c} ({', '.join(r)})" for c, r in over.items()]

    bounds = triggers.get("performance") or {}
    metric, value = performance.get("metric"), performance.get("value")
    bound_key = "maximum" if metric in LOWER_IS_BETTER else "minimum"
    bound = bounds.get(bound_key)
    if bound is not None:
        check = {"trigger": "performance", "metric": metric, "value": value, bound_key: bound}
        if value is None:
            check["skipped"] = f"{performance.get('labelled_rows', 0)} labelled rows"
        elif (value > bound) if bound_key == "maximum" else (value < bound):
            word = "above" if bound_key == "maximum" else "below"
            reasons.append(f"performance: {metric} {value:.4f} is {word} {bound}")
        checks.append(check)

    decision = {
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": drift_report["model"],
        "retrain": bool(reasons),
        "reasons": reasons,
        "checks": checks,
    }
    if reasons:
        logger.warning("Iterate: retraining, because %s", "; ".join(reasons))
    else:
        logger.info(
            "Iterate: no retraining needed: no monitored column is over its threshold%s",
            f" and {metric} is {value:.4f}" if value is not None else "",
        )
    return decision


def _dotted(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flattens nested parameters to the dotted keys `kedro run --params` takes."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat |= _dotted(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _kedro_command(env: str, pipelines: list[str], params: dict[str, Any]) -> list[str]:
    kedro = Path(sys.executable).with_name("kedro")
    command = [str(kedro)] if kedro.exists() else [sys.executable, "-m", "kedro"]
    command += ["run", "--env", env, "--pipelines", ",".join(pipelines)]
    values = []
    for key, value in _dotted(params).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        text = "null" if value is None else text
        if "," in text:
            raise ConfigError(
                f"iterate: the runtime parameter {key}={text!r} holds a comma, which `kedro run "
                "--params` cannot pass on to the retraining run."
            )
        values.append(f"{key}={text}")
    if values:
        command += ["--params", ",".join(values)]
    return command


def retrain(decision: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Starts the retraining run when `decision` asks for one; returns what it did.

    No retraining: returns at once, saying why. Otherwise the child run's outcome (the registry
    gate's verdict, the new version) is read back from its MLflow run; a failed child fails this
    run too.
    """
    outcome: dict[str, Any] = {"retrained": False, "reasons": decision["reasons"]}
    if not decision["retrain"]:
        logger.info("Iterate: nothing to retrain; the champion stays %s", decision["model"])
        return outcome
    run_params = current_run_params()
    retrain_params = params.get("retrain") or {}
    runtime = _dotted(dict(run_params.get("runtime_params") or {}))
    runtime |= _dotted(dict(retrain_params.get("params") or {}))
    # The window: runtime parameters that point the catalog's sources at the data to learn from.
    window = {str(key): value for key, value in (retrain_params.get("window") or {}).items()}
    if not window:
        raise ConfigError(
            "iterate.retrain.window is empty: name the runtime parameter(s) that point the "
            "sources at the data to retrain on, e.g. {<main source path parameter>: <a glob>}."
        )
    runtime |= window
    command = _kedro_command(
        run_params.get("env") or "local", list(retrain_params["pipelines"]), runtime
    )
    parent = mlflow.active_run()
    environment = {**os.environ, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}
    if parent is not None:
        environment[PARENT_RUN_ENV] = parent.info.run_id
    logger.info("Iterate: retraining on %s: %s", window, " ".join(command))
    started = datetime.now(UTC)
    result = subprocess.run(
        command, check=False, env=environment, cwd=run_params.get("project_path")
    )
    outcome.update(
        {
            "retrained": True,
            "window": window,
            "command": command,
            "returncode": result.returncode,
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        }
    )
    child = _child_run(parent.info.run_id) if parent is not None else None
    if child is not None:
        tags = child.data.tags
        outcome.update(
            {
                "run_id": child.info.run_id,
                "status": child.info.status,
                "registry_outcome": tags.get("registry.outcome"),
            }
        )
        if result.returncode != 0 and tags.get("error"):
            outcome["error_node"], outcome["error"] = tags.get("error_node"), tags["error"]
    if result.returncode != 0:
        # The node fails, so its output is not saved: the parent run keeps the outcome instead.
        if parent is not None:
            mlflow.log_dict(outcome, "iterate/outcome.json")
        where = f" in node {outcome['error_node']}" if outcome.get("error_node") else ""
        raise RuntimeError(
            f"Iterate: the retraining run failed (exit {result.returncode}){where}"
            + (f": {outcome['error']}" if outcome.get("error") else "")
            + "\nThe retraining run's log is above"
            + (f"; its MLflow run is {outcome['run_id']}." if "run_id" in outcome else ".")
        )
    logger.info(
        "Iterate: retraining run %s finished; registry: %s",
        outcome.get("run_id"),
        outcome.get("registry_outcome"),
    )
    return outcome


def _child_run(parent_run_id: str):
    runs = MlflowClient().search_runs(
        experiment_ids=[mlflow.get_run(parent_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None
