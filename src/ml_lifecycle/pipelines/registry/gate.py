"""The registry gate's logic, pure: absolute bounds, the margin over the champion, the decision."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ml_lifecycle.core.errors import LifecycleError
from ml_lifecycle.core.params import parse
from ml_lifecycle.pipelines.registry.params import RegistryParams


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
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    params: RegistryParams | dict[str, Any],
) -> list[dict[str, Any]]:
    """Returns every check of the gate with its numbers: absolute bounds, then vs the champion.

    ``params``: ``minimum: {metric: bound}``, ``maximum: {metric: bound}``, ``metric`` (compared
    with the champion), ``greater_is_better`` and ``margin`` (the candidate must beat the champion
    by at least this much).
    """
    params = parse(RegistryParams, params, "registry")
    checks = [
        _check(m, candidate.get(m), ">=", b, "minimum")
        for m, b in params.minimum.items()
        if b is not None
    ]
    checks += [
        _check(m, candidate.get(m), "<=", b, "maximum")
        for m, b in params.maximum.items()
        if b is not None
    ]
    if champion is not None:
        metric, margin = params.metric, params.margin
        best = champion.get(metric)
        if best is None or not math.isfinite(best):
            raise LifecycleError(f"registry.metric '{metric}' is not a metric of the champion")
        if params.greater_is_better:
            checks.append(_check(metric, candidate.get(metric), ">=", best + margin, "vs champion"))
        else:
            checks.append(_check(metric, candidate.get(metric), "<=", best - margin, "vs champion"))
    return checks


def _reason(check: dict[str, Any]) -> str:
    value = "missing" if check["value"] is None else f"{check['value']:.4f}"
    return f"{check['check']}: {check['metric']} {value} is not {check['op']} {check['bound']:.4f}"


def decide(  # noqa: PLR0913 - the decision's facts, each named
    name: str,
    version: str,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    champion_version: str | None,
    params: RegistryParams | dict[str, Any],
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
