"""Iterate nodes: decide whether the champion needs a successor, and record what would train it.

The decision carries the retraining run it asks for (`iterate.retrain`: the pipelines, the window
of data that its runtime parameters point the sources at, the retraining's own runtime parameters
and data folder). Starting that run is not a node's business: Kedro has no conditional nodes, and
what runs next is the entry point's (`kedro iterate`, ml_lifecycle.orchestration.iterate).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.pipelines.iterate.params import IterateParams

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = {"rmse"}


def decide_iteration(
    drift_report: dict[str, Any],
    performance: dict[str, Any],
    params: IterateParams | dict[str, Any],
) -> dict[str, Any]:
    """Returns {retrain, reasons, checks, retraining}: every trigger checked, with its numbers."""
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
    bound_key = "maximum" if metric in LOWER_IS_BETTER else "minimum"
    bound = None if triggers.performance is None else getattr(triggers.performance, bound_key)
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
