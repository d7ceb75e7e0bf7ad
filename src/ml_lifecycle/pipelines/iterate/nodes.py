"""Iterate nodes: decide whether the champion needs a successor, and record what would train it.

The decision carries the retraining run it asks for (`iterate.retrain`: the pipelines, the window
of data that its runtime parameters point the sources at, the retraining's own runtime parameters
and data folder). Starting that run is not a node's business: Kedro has no conditional nodes, and
what runs next is the entry point's (`kedro iterate`, ml_lifecycle.orchestration.iterate).
The performance trigger compares the champion's batch metric with the same metric on its own
test split, which its run's evaluation logged (`inference.champion`'s `evaluation_metrics`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.pipelines.iterate.params import IterateParams, PerformanceTrigger
from ml_lifecycle.pipelines.monitoring.nodes import METRICS

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = {"rmse"}
# The champion's artifact (catalog_inference.yml) holding its run's evaluation/metrics.json.
EVALUATION = "evaluation_metrics"
KEY = "iterate.triggers.performance"
# The task each batch metric belongs to (monitoring's METRICS, one metric per task).
TASKS = {metric: task for task, metric in METRICS.items()}


def _champion_test_value(champion: dict[str, Any], metric: str) -> tuple[float | None, str | None]:
    """Returns the champion's test `metric` and, when there is none to compare with, why."""
    name = f"{champion['model_name']} v{champion['model_version']} (run {champion['model_run_id']})"
    task = champion.get("task")
    if task in METRICS and METRICS[task] != metric:
        raise ConfigError(
            f"{KEY}: the batch was measured by {metric}, but the champion {name} is a {task} "
            f"model, measured by {METRICS[task]}: set features.task to the champion's task, or "
            "give this env its own globals.model_name."
        )
    evaluation = (champion.get("artifacts") or {}).get(EVALUATION)
    if evaluation is None:
        return None, f"the champion {name} has no evaluation/metrics.json to compare with"
    model = evaluation.get("model") or {}
    if metric not in model:
        raise ConfigError(
            f"{KEY}: the batch was measured by {metric}, but the test metrics of the champion "
            f"{name} have no {metric}: set features.task to the champion's task."
        )
    if model[metric] is None:
        return None, f"the champion's test {metric} is null"
    return float(model[metric]), None


def _performance_check(
    performance: dict[str, Any], champion: dict[str, Any], trigger: PerformanceTrigger
) -> tuple[dict[str, Any], str | None]:
    """Returns the performance check with its numbers, and the reason to retrain (or None)."""
    metric, value = performance["metric"], performance.get("value")
    lower = metric in LOWER_IS_BETTER
    test, skipped = _champion_test_value(champion, metric)
    bound = None
    if test is not None:
        bound = test * ((1 + trigger.max_degradation) if lower else (1 - trigger.max_degradation))
    check: dict[str, Any] = {
        "trigger": "performance",
        "task": TASKS.get(metric),
        "metric": metric,
        "value": value,
        "champion_test_value": test,
        "max_degradation": trigger.max_degradation,
        # Retrain when the batch's value is past the bound in this direction.
        "retrain_when": "above" if lower else "below",
        "bound": bound,
    }
    if skipped is not None:
        logger.warning("Iterate: the performance trigger cannot fire: %s", skipped)
    if value is None:
        skipped = f"{performance.get('labelled_rows', 0)} labelled rows"
    if skipped is not None:
        check["skipped"] = skipped
        return check, None
    if (value > bound) if lower else (value < bound):
        share = f"{'+' if lower else '-'}{trigger.max_degradation * 100:g}%"
        return check, (
            f"performance: {metric} {value:.4f} is {check['retrain_when']} {bound:.4f} "
            f"(the champion's test {metric} {test:.4f} {share})"
        )
    return check, None


def decide_iteration(
    drift_report: dict[str, Any],
    performance: dict[str, Any],
    champion: dict[str, Any],
    params: IterateParams | dict[str, Any],
) -> dict[str, Any]:
    """Returns {retrain, reasons, checks, retraining}: every trigger checked, with its numbers.

    `champion`: the pinned champion (`inference.champion`) whose batch metric `performance` is.
    """
    params = parse(IterateParams, params, "iterate")
    triggers, retrain = params.triggers, params.retrain
    reasons, checks = [], []

    watched = triggers.drift
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

    metric, value = performance.get("metric"), performance.get("value")
    if triggers.performance is not None:
        check, reason = _performance_check(performance, champion, triggers.performance)
        checks.append(check)
        reasons += [reason] if reason else []

    decision = {
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": drift_report["model"],
        "retrain": bool(reasons),
        "reasons": reasons,
        "checks": checks,
        # What `kedro iterate` starts when `retrain` is true; as configured, whatever the verdict.
        "retraining": {
            "pipelines": list(retrain.pipelines),
            "window": dict(retrain.window),
            "params": dict(retrain.params),
            "data_dir": retrain.data_dir,
        },
    }
    if reasons:
        logger.warning("Iterate: retraining, because %s", "; ".join(reasons))
    else:
        logger.info(
            "Iterate: no retraining needed: no monitored column is over its threshold%s",
            f" and {metric} is {value:.4f}" if value is not None else "",
        )
    return decision
