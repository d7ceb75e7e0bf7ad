"""`kedro iterate`: the iterate run, then the retraining run its decision asks for, if any.

The `iterate` pipeline only decides and records: `iteration_decision` says whether to retrain, why,
and what the retraining would run (`retraining`: the pipelines, the window, the runtime
parameters, the data folder, all from `params:iterate`). Kedro has no conditional nodes, and what
runs next is no node's business, so this entry point starts the retraining: a `kedro run` of its
own (same env, this run's runtime parameters, then `iterate.retrain.params` and the window), whose
MLflow run is a child of the iterate run (the hook reads `ML_LIFECYCLE_PARENT_RUN_ID`), and whose
data folder is `<iterate.retrain.data_dir>/<iterate run id>`: a candidate the gate rejects never
overwrites the lifecycle's reports, accounting and model input. The registry gate judges its model
like any other. What happened is `iteration_outcome`, saved through the catalog and logged to the
iterate run as `iterate/outcome.json`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.utils import find_kedro_project
from mlflow import MlflowClient

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.hooks import PARENT_RUN_ENV

logger = logging.getLogger(__name__)

PIPELINE = "iterate"
OUTCOME_ARTIFACT = "iterate/outcome.json"


class IterationFailed(RuntimeError):
    """The retraining run failed; the message names its node, its error and its MLflow run."""


@dataclass(frozen=True)
class Retraining:
    """The retraining run to start: its command line, its window and its own data folder."""

    command: list[str]
    window: dict[str, Any]
    data_dir: str


def dotted(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flattens nested parameters to the dotted keys `kedro run --params` takes."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat |= dotted(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def kedro_command(
    env: str, pipelines: list[str], params: dict[str, Any], conf_source: str | None = None
) -> list[str]:
    """Returns the `kedro run` command line of `pipelines` in `env` with runtime `params`."""
    kedro = Path(sys.executable).with_name("kedro")
    command = [str(kedro)] if kedro.exists() else [sys.executable, "-m", "kedro"]
    command += ["run", "--env", env, "--pipelines", ",".join(pipelines)]
    if conf_source:
        command += ["--conf-source", conf_source]
    values = []
    for key, value in dotted(params).items():
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


def plan_retraining(
    decision: dict[str, Any],
    env: str,
    runtime_params: dict[str, Any],
    run_id: str,
    conf_source: str | None = None,
) -> Retraining | None:
    """Returns the retraining run `decision` asks for (None: no retraining).

    Its runtime parameters: this run's own, then `iterate.retrain.params`, then the window, then
    its data folder, `<iterate.retrain.data_dir>/<run_id>`, which no other run writes. It reads
    the configuration from `conf_source` (None: the project's).
    """
    if not decision["retrain"]:
        return None
    spec = decision.get("retraining") or {}
    # The window: runtime parameters that point the catalog's sources at the data to learn from.
    window = {str(key): value for key, value in (spec.get("window") or {}).items()}
    if not window:
        raise ConfigError(
            "iterate.retrain.window is empty: name the runtime parameter(s) that point the "
            "sources at the data to retrain on, e.g. {<main source path parameter>: <a glob>}."
        )
    pipelines = [str(name) for name in spec.get("pipelines") or []]
    if not pipelines:
        raise ConfigError(
            "iterate.retrain.pipelines is empty: name the pipelines of the retraining run."
        )
    base = spec.get("data_dir")
    if not base:
        raise ConfigError(
            "iterate.retrain.data_dir is not set: name the folder under which each retraining "
            "run gets a data folder of its own, e.g. ${runtime_params:data_dir, "
            "${globals:data_dir}}/iterate."
        )
    data_dir = f"{str(base).rstrip('/')}/{run_id}"
    runtime = dotted(dict(runtime_params or {})) | dotted(dict(spec.get("params") or {}))
    runtime |= window | {"data_dir": data_dir}
    command = kedro_command(env, pipelines, runtime, conf_source)
    return Retraining(command, window, data_dir)


def outcome_of(
    decision: dict[str, Any],
    retraining: Retraining | None = None,
    returncode: int | None = None,
    seconds: float | None = None,
    child: Any = None,
) -> dict[str, Any]:
    """Returns `iteration_outcome`: whether it retrained, why, and how the child run ended."""
    outcome: dict[str, Any] = {"retrained": False, "reasons": decision["reasons"]}
    if retraining is None:
        return outcome
    outcome.update(
        {
            "retrained": True,
            "window": retraining.window,
            "data_dir": retraining.data_dir,
            "command": retraining.command,
            "returncode": returncode,
            "seconds": seconds,
        }
    )
    if child is not None:
        tags = child.data.tags
        outcome.update(
            {
                "run_id": child.info.run_id,
                "status": child.info.status,
                "registry_outcome": tags.get("registry.outcome"),
            }
        )
        if returncode != 0 and tags.get("error"):
            outcome["error_node"], outcome["error"] = tags.get("error_node"), tags["error"]
    return outcome


def failure_message(outcome: dict[str, Any]) -> str | None:
    """Returns what to say when the retraining run failed (None: it did not)."""
    if not outcome.get("retrained") or outcome.get("returncode") == 0:
        return None
    where = f" in node {outcome['error_node']}" if outcome.get("error_node") else ""
    return (
        f"Iterate: the retraining run failed (exit {outcome['returncode']}){where}"
        + (f": {outcome['error']}" if outcome.get("error") else "")
        + "\nThe retraining run's log is above"
        + (f"; its MLflow run is {outcome['run_id']}." if "run_id" in outcome else ".")
    )


def child_run(client: MlflowClient, parent_run_id: str) -> Any:
    """Returns the latest MLflow run whose parent is `parent_run_id` (None: there is none)."""
    runs = client.search_runs(
        experiment_ids=[client.get_run(parent_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def retrain(
    decision: dict[str, Any],
    retraining: Retraining,
    parent_run_id: str | None,
    cwd: Path | None = None,
    run: Callable[..., Any] = subprocess.run,
) -> dict[str, Any]:
    """Starts the retraining run (a child of `parent_run_id`) and returns its outcome."""
    environment = {**os.environ, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}
    environment.pop(PARENT_RUN_ENV, None)
    if parent_run_id is not None:
        environment[PARENT_RUN_ENV] = parent_run_id
    logger.info(
        "Iterate: retraining on %s in %s: %s",
        retraining.window,
        retraining.data_dir,
        " ".join(retraining.command),
    )
    started = datetime.now(UTC)
    result = run(retraining.command, check=False, env=environment, cwd=cwd)
    seconds = round((datetime.now(UTC) - started).total_seconds(), 1)
    child = child_run(MlflowClient(), parent_run_id) if parent_run_id is not None else None
    return outcome_of(decision, retraining, result.returncode, seconds, child)


def record(catalog: Any, run_id: str | None, outcome: dict[str, Any]) -> None:
    """Saves `iteration_outcome` and logs it to the iterate run, whatever the retraining did."""
    catalog.save("iteration_outcome", outcome)
    if run_id is not None:
        MlflowClient().log_dict(run_id, outcome, OUTCOME_ARTIFACT)


def iterate(
    env: str | None = None,
    runtime_params: dict[str, Any] | None = None,
    project_path: Path | None = None,
    conf_source: str | None = None,
) -> dict[str, Any]:
    """Runs the iterate pipeline, then the retraining its decision asks for; returns the outcome.

    Both runs read the configuration from `conf_source` (None: the project's `conf/`).

    Raises IterationFailed, after recording the outcome, when the retraining run failed.
    """
    project_path = Path(project_path or find_kedro_project(Path.cwd()) or Path.cwd())
    bootstrap_project(project_path)
    runtime_params = dict(runtime_params or {})
    before = mlflow.last_active_run()
    with KedroSession.create(
        project_path=project_path, env=env, runtime_params=runtime_params, conf_source=conf_source
    ) as session:
        session.run(pipeline_names=[PIPELINE])
        session_id = session.store["session_id"]
        context = session.load_context()
    run = mlflow.last_active_run()
    new_run = run is not None and (before is None or before.info.run_id != run.info.run_id)
    run_id = run.info.run_id if new_run else None

    catalog = context.catalog
    decision = catalog.load("iteration_decision")
    env = context.env or "local"
    retraining = plan_retraining(
        decision, env, runtime_params, run_id or session_id, conf_source=conf_source
    )
    if retraining is None:
        logger.info("Iterate: nothing to retrain; the champion stays %s", decision["model"])
        outcome = outcome_of(decision)
    else:
        outcome = retrain(decision, retraining, run_id, cwd=project_path)
    record(catalog, run_id, outcome)
    message = failure_message(outcome)
    if message:
        raise IterationFailed(message)
    if outcome["retrained"]:
        logger.info(
            "Iterate: retraining run %s finished; registry: %s",
            outcome.get("run_id"),
            outcome.get("registry_outcome"),
        )
    return outcome
