"""The registry gate on a real MLflow registry (sqlite in tmp_path): checks, tags and aliases."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from ml_lifecycle.core.errors import LifecycleError
from ml_lifecycle.tracking import versions as registry

PARAMS = {
    "minimum": {"roc_auc": 0.6, "pr_auc": None},
    "maximum": {"log_loss": 0.7},
    "metric": "roc_auc",
    "greater_is_better": True,
    "margin": 0.01,
}


def _version(client: MlflowClient, name: str) -> str:
    with mlflow.start_run() as run:
        mlflow.log_text("a model", "model/MLmodel")
    return registry.register(client, f"{run.info.artifact_uri}/model", name, run.info.run_id)


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _gate(client, name, version, candidate):
    champion_version = registry.alias_version(client, name, registry.CHAMPION)
    champion = None
    if champion_version is not None:
        champion = {"roc_auc": float(client.get_model_version(name, champion_version).tags["auc"])}
    decision = registry.decide(name, version, candidate, champion, champion_version, PARAMS)
    registry.record_decision(client, decision)
    client.set_model_version_tag(name, version, "auc", str(candidate["roc_auc"]))
    return decision


def test_absolute_bounds_and_the_margin_over_the_champion():
    good = {"roc_auc": 0.70, "log_loss": 0.5}
    assert all(c["passed"] for c in registry.gate_checks(good, None, PARAMS))
    low = registry.gate_checks({"roc_auc": 0.55, "log_loss": 0.5}, None, PARAMS)
    assert [c["passed"] for c in low] == [False, True]
    high_loss = registry.gate_checks({"roc_auc": 0.7, "log_loss": 0.9}, None, PARAMS)
    assert [c["check"] for c in high_loss if not c["passed"]] == ["maximum"]
    # Beating the champion by less than the margin fails; by the margin passes.
    close = registry.gate_checks(good, {"roc_auc": 0.695}, PARAMS)
    assert close[-1] == {**close[-1], "check": "vs champion", "bound": 0.705, "passed": False}
    assert registry.gate_checks(good, {"roc_auc": 0.69}, PARAMS)[-1]["passed"]
    # A missing metric never passes; for an error metric lower must win.
    assert not registry.gate_checks({"log_loss": 0.5}, None, PARAMS)[0]["passed"]
    lower = {**PARAMS, "metric": "log_loss", "greater_is_better": False, "minimum": {}}
    assert registry.gate_checks(good, {"log_loss": 0.52}, lower)[-1]["passed"]
    assert not registry.gate_checks(good, {"log_loss": 0.505}, lower)[-1]["passed"]


def test_a_metric_the_champion_lacks_is_a_configuration_error():
    with pytest.raises(LifecycleError, match="'roc_auc' is not a metric of the champion"):
        registry.gate_checks({"roc_auc": 0.7}, {"rmse": 3.0}, PARAMS)


def test_champion_moves_only_through_the_gate(mlflow_store):
    client, name = MlflowClient(), "gate_test"
    with pytest.raises(registry.NoChampionError, match="has no 'champion' version"):
        registry.champion_uri(client, name)

    # The first version becomes champion when it passes the absolute bounds.
    v1 = _version(client, name)
    first = _gate(client, name, v1, {"roc_auc": 0.70, "log_loss": 0.5})
    assert first["passed"] and first["champion"] is None
    assert _aliases(client, name) == {"challenger": v1}
    assert registry.apply_decision(client, first).startswith(f"promoted version {v1}")
    assert _aliases(client, name) == {"champion": v1}
    assert registry.champion_uri(client, name) == f"models:/{name}@champion"

    # Below an absolute bound: tagged with the reason, aliases unchanged.
    v2 = _version(client, name)
    low = _gate(client, name, v2, {"roc_auc": 0.58, "log_loss": 0.5})
    assert not low["passed"] and low["reasons"] == [
        "minimum: roc_auc 0.5800 is not >= 0.6000",
        "vs champion: roc_auc 0.5800 is not >= 0.7100",
    ]
    registry.apply_decision(client, low)
    assert _aliases(client, name) == {"champion": v1}
    tags = client.get_model_version(name, v2).tags
    assert tags["gate"] == "failed" and "roc_auc 0.5800" in tags["gate_reason"]

    # Better than the bounds but not the champion by the margin: unchanged too.
    v3 = _version(client, name)
    close = _gate(client, name, v3, {"roc_auc": 0.705, "log_loss": 0.5})
    assert not close["passed"] and close["reasons"][0].startswith("vs champion: roc_auc 0.7050")
    assert close["champion"] == {"version": v1, "roc_auc": 0.70}
    registry.apply_decision(client, close)
    assert _aliases(client, name) == {"champion": v1}

    # A clear win: challenger, then champion; the replaced champion keeps `previous`.
    v4 = _version(client, name)
    win = _gate(client, name, v4, {"roc_auc": 0.75, "log_loss": 0.5})
    assert win["passed"] and _aliases(client, name) == {"champion": v1, "challenger": v4}
    registry.apply_decision(client, win)
    assert _aliases(client, name) == {"champion": v4, "previous": v1}
    assert client.get_model_version(name, v4).tags["gate"] == "passed"
