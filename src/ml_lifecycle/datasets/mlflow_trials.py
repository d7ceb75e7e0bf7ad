"""A tuning study's trials logged to MLflow: one nested run per trial under the tune run.

Each nested run has the trial's sampled training keys as params (the same names in every trial,
so MLflow's parallel-coordinates view compares them), the per-epoch validation curve as a step
metric, the final value, its state (COMPLETE, PRUNED, FAIL) and number as tags. The parent run
gets the best value, the trial counts and the whole table as `tune/trials.json`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

logger = logging.getLogger(__name__)

STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _metrics(trial: dict[str, Any], monitor: str, now: int) -> list[Metric]:
    metrics = [
        Metric(monitor, float(v), now, step)
        for step, v in enumerate(trial.get("curve") or [])
        if v is not None and math.isfinite(float(v))
    ]
    if trial.get("value") is not None and math.isfinite(float(trial["value"])):
        metrics.append(Metric("value", float(trial["value"]), now, 0))
    return metrics


class MlflowTrialRunsDataset(AbstractDataset[dict, None]):
    """Saves the tune node's trials table as nested MLflow runs of the active run.

    The table: ``{study, monitor, best_trial, best_value, trials: [{number, state, value,
    params, curve}]}``. With no active MLflow run (a node called outside ``kedro run``), saving
    logs nothing and says so. Write-only.
    """

    def __init__(self, metadata: dict[str, Any] | None = None):
        self.metadata = metadata

    def save(self, data: dict[str, Any]) -> None:
        parent = mlflow.active_run()
        if parent is None:
            logger.warning(
                "No active MLflow run: the %s trials are not logged.", len(data["trials"])
            )
            return
        client = MlflowClient()
        parent_id, experiment_id = parent.info.run_id, parent.info.experiment_id
        now = int(time.time() * 1000)
        study, monitor = data["study"], data["monitor"]
        for trial in data["trials"]:
            run = client.create_run(
                experiment_id,
                run_name=f"{study} trial {trial['number']}",
                tags={MLFLOW_PARENT_RUN_ID: parent_id},
            )
            run_id = run.info.run_id
            tags = {"tune.study": study, "tune.trial": str(trial["number"])}
            tags["tune.state"] = trial["state"]
            client.log_batch(
                run_id,
                metrics=_metrics(trial, monitor, now),
                params=[Param(f"training.{k}", _value(v)) for k, v in trial["params"].items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            client.set_terminated(run_id, STATUS.get(trial["state"], "FINISHED"))
        counts: dict[str, int] = {}
        for trial in data["trials"]:
            counts[trial["state"]] = counts.get(trial["state"], 0) + 1
        summary = {f"tune.trials.{state.lower()}": float(n) for state, n in counts.items()}
        if data.get("best_value") is not None:
            summary["tune.best_value"] = float(data["best_value"])
            summary["tune.best_trial"] = float(data["best_trial"])
        client.log_batch(parent_id, metrics=[Metric(k, v, now, 0) for k, v in summary.items()])
        client.log_dict(parent_id, data, "tune/trials.json")

    def load(self) -> dict:
        raise DatasetError("MlflowTrialRunsDataset is write-only: read the runs in MLflow.")

    def _describe(self) -> dict[str, Any]:
        return {}
