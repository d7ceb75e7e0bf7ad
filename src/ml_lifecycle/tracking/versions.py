"""The MLflow model registry as the deployment gate: versions, the gate's checks, the aliases.

Aliases (MLflow 3; stages are deprecated):
- ``challenger``: the latest version that passed the gate, set by the gate node;
- ``champion``: the version that scores new data; it moves only in ``apply_decision``, which the
  project's hook calls after every node of the run succeeded;
- ``previous``: the champion it replaced (one step of rollback: move ``champion`` back to it).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ml_lifecycle.core.errors import LifecycleError

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


class NoChampionError(LifecycleError):
    """The registered model has no `champion` version yet."""


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """Returns the version number `alias` points to, or None (also when the model is absent)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def champion_uri(client: MlflowClient, name: str) -> str:
    """Returns models:/<name>@champion, or raises NoChampionError saying how to get one."""
    if alias_version(client, name, CHAMPION) is None:
        raise NoChampionError(
            f"The registered model '{name}' has no '{CHAMPION}' version in "
            f"{client._registry_uri}. Train and gate one first: `kedro run` (the whole lifecycle) "
            "or `kedro run --pipelines training,evaluation,registry`."
        )
    return f"models:/{name}@{CHAMPION}"


def register(client: MlflowClient, model_uri: str, name: str, run_id: str | None) -> str:
    """Registers `model_uri` as a new version of `name` (created if new); returns the version."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Gated by ml-lifecycle's registry pipeline; see the aliases."
        )
    version = client.create_model_version(name, model_uri, run_id=run_id)
    logger.info("Registered %s version %s from %s", name, version.version, model_uri)
    return str(version.version)


def _check(metric: str, value: float | None, op: str, bound: float, label: str) -> dict[str, Any]:
    ok = value is not None and math.isfinite(value)
    passed = ok and (value >= bound if op == ">=" else value <= bound)
    return {
        "check": label,
        "metric": metric,
        "value": value,
        "op": op,
        "bound": bound,
        "passed": bool(passed),
    }


def gate_checks(
    candidate: dict[str, Any], champion: dict[str, Any] | None, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Returns every check of the gate with its numbers: absolute bounds, then vs the champion.

    ``params``: ``minimum: {metric: bound}``, ``maximum: {metric: bound}``, ``metric`` (compared
    with the champion), ``greater_is_better`` and ``margin`` (the candidate must beat the champion
    by at least this much).
    """
    checks = [
        _check(m, candidate.get(m), ">=", float(b), "minimum")
        for m, b in (params.get("minimum") or {}).items()
        if b is not None
    ]
    checks += [
        _check(m, candidate.get(m), "<=", float(b), "maximum")
        for m, b in (params.get("maximum") or {}).items()
        if b is not None
    ]
    if champion is not None:
        metric, margin = params["metric"], float(params.get("margin", 0.0))
        best = champion.get(metric)
        if best is None or not math.isfinite(best):
            raise LifecycleError(f"registry.metric '{metric}' is not a metric of the champion")
        if params.get("greater_is_better", True):
            checks.append(_check(metric, candidate.get(metric), ">=", best + margin, "vs champion"))
        else:
            checks.append(_check(metric, candidate.get(metric), "<=", best - margin, "vs champion"))
    return checks


def _reason(check: dict[str, Any]) -> str:
    value = "missing" if check["value"] is None else f"{check['value']:.4f}"
    return f"{check['check']}: {check['metric']} {value} is not {check['op']} {check['bound']:.4f}"


def decide(
    name: str,
    version: str,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    champion_version: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Returns the gate's decision: the checks, pass or fail, and the reasons of a fail."""
    checks = gate_checks(candidate, champion, params)
    failed = [c for c in checks if not c["passed"]]
    return {
        "model_name": name,
        "version": version,
        "passed": not failed,
        "reasons": [_reason(c) for c in failed],
        "checks": checks,
        "candidate": candidate,
        "champion": None if champion is None else {"version": champion_version, **champion},
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def record_decision(client: MlflowClient, decision: dict[str, Any]) -> None:
    """Tags the version with the decision; a version that passed becomes the `challenger`."""
    name, version = decision["model_name"], decision["version"]
    outcome = "passed" if decision["passed"] else "failed"
    client.set_model_version_tag(name, version, "gate", outcome)
    client.set_model_version_tag(
        name, version, "gate_reason", "; ".join(decision["reasons"]) or "every check passed"
    )
    for check in decision["checks"]:
        if check["value"] is not None:
            client.set_model_version_tag(
                name, version, f"test_{check['metric']}", f"{check['value']:.6f}"
            )
    if decision["passed"]:
        client.set_registered_model_alias(name, CHALLENGER, version)


def apply_decision(client: MlflowClient, decision: dict[str, Any]) -> str:
    """Moves `champion` to a version that passed (the old one becomes `previous`); returns how."""
    name, version = decision["model_name"], decision["version"]
    if not decision["passed"]:
        logger.info("Gate: %s version %s stays out: %s", name, version, decision["reasons"])
        return f"rejected version {version}: " + "; ".join(decision["reasons"])
    current = alias_version(client, name, CHAMPION)
    if current == version:
        return f"version {version} is already the champion"
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "promoted_at", datetime.now(UTC).isoformat())
    logger.info("Gate: %s version %s is the champion (previous: %s)", name, version, current)
    return f"promoted version {version} to champion (previous: {current})"
