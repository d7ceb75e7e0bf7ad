"""The registry gate on a real MLflow registry (sqlite in tmp_path): checks, tags and aliases."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from ml_lifecycle.core.errors import LifecycleError, NoChampionError
from ml_lifecycle.datasets import ChampionDataset, RegistryUpdateDataset, RegistryVersionDataset
from ml_lifecycle.pipelines.registry.gate import decide, gate_checks
from ml_lifecycle.pipelines.registry.nodes import register_model, registry_update

PARAMS = {
    "model_name": "m",
    "minimum": {"roc_auc": 0.6, "pr_auc": None},
    "maximum": {"log_loss": 0.7},
    "metric": "roc_auc",
    "greater_is_better": True,
    "margin": 0.01,
}


def _version(name: str, tmp_path) -> str:
    with mlflow.start_run() as run:
        mlflow.log_text("a model", "model/MLmodel")
    registered = RegistryVersionDataset(model_name=name, filepath=str(tmp_path / "version.json"))
    registered.save(register_model({"model_uri": f"{run.info.artifact_uri}/model"}))
    return registered.load()["version"]


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _gate(client, name, version, candidate):
    """The gate's decision, saved as the pipeline saves it; returns (decision, its update)."""
    champion = _champion(client, name)
    champion_version = None if champion is None else champion.pop("version")
    decision = decide(name, version, candidate, champion, champion_version, PARAMS)
    update = RegistryUpdateDataset()
    update.save(registry_update(decision))
    client.set_model_version_tag(name, version, "auc", str(candidate["roc_auc"]))
    return decision, update


def _champion(client, name):
    """The champion's version and test metric (the gate re-scores it; here its tag stands in)."""
    try:
        version = client.get_model_version_by_alias(name, "champion")
    except mlflow.exceptions.MlflowException:
        return None
    return {"version": str(version.version), "roc_auc": float(version.tags["auc"])}


def test_absolute_bounds_and_the_margin_over_the_champion():
    good = {"roc_auc": 0.70, "log_loss": 0.5}
    assert all(c["passed"] for c in gate_checks(good, None, PARAMS))
    low = gate_checks({"roc_auc": 0.55, "log_loss": 0.5}, None, PARAMS)
    assert [c["passed"] for c in low] == [False, True]
    high_loss = gate_checks({"roc_auc": 0.7, "log_loss": 0.9}, None, PARAMS)
    assert [c["check"] for c in high_loss if not c["passed"]] == ["maximum"]
    # Beating the champion by less than the margin fails; by the margin passes.
    close = gate_checks(good, {"roc_auc": 0.695}, PARAMS)
    assert close[-1] == {**close[-1], "check": "vs champion", "bound": 0.705, "passed": False}
    assert gate_checks(good, {"roc_auc": 0.69}, PARAMS)[-1]["passed"]
    # A missing metric never passes; for an error metric lower must win.
    assert not gate_checks({"log_loss": 0.5}, None, PARAMS)[0]["passed"]
    lower = {**PARAMS, "metric": "log_loss", "greater_is_better": False, "minimum": {}}
    assert gate_checks(good, {"log_loss": 0.52}, lower)[-1]["passed"]
    assert not gate_checks(good, {"log_loss": 0.505}, lower)[-1]["passed"]


def test_a_metric_the_champion_lacks_is_a_configuration_error():
    with pytest.raises(LifecycleError, match="'roc_auc' is not a metric of the champion"):
        gate_checks({"roc_auc": 0.7}, {"rmse": 3.0}, PARAMS)


def test_the_update_tags_the_version_with_every_checked_metric():
    decision = decide("m", "3", {"roc_auc": 0.58, "log_loss": 0.5}, None, None, PARAMS)
    assert registry_update(decision) == {
        "model_name": "m",
        "version": "3",
        "passed": False,
        "reasons": ["minimum: roc_auc 0.5800 is not >= 0.6000"],
        "tags": {
            "gate": "failed",
            "gate_reason": "minimum: roc_auc 0.5800 is not >= 0.6000",
            "test_roc_auc": "0.580000",
            "test_log_loss": "0.500000",
        },
    }


def test_champion_moves_only_through_the_gate(mlflow_store, tmp_path):
    client, name = MlflowClient(), "gate_test"
    with pytest.raises(NoChampionError, match="has no 'champion' version"):
        ChampionDataset(model_name=name).load()

    # The first version becomes champion when it passes the absolute bounds.
    v1 = _version(name, tmp_path)
    first, update = _gate(client, name, v1, {"roc_auc": 0.70, "log_loss": 0.5})
    assert first["passed"] and first["champion"] is None
    assert _aliases(client, name) == {"challenger": v1}
    assert update.commit().startswith(f"promoted version {v1}")
    assert _aliases(client, name) == {"champion": v1}

    # Below an absolute bound: tagged with the reason, aliases unchanged.
    v2 = _version(name, tmp_path)
    low, update = _gate(client, name, v2, {"roc_auc": 0.58, "log_loss": 0.5})
    assert not low["passed"] and low["reasons"] == [
        "minimum: roc_auc 0.5800 is not >= 0.6000",
        "vs champion: roc_auc 0.5800 is not >= 0.7100",
    ]
    assert update.commit().startswith(f"rejected version {v2}: minimum: roc_auc 0.5800")
    assert _aliases(client, name) == {"champion": v1}
    tags = client.get_model_version(name, v2).tags
    assert tags["gate"] == "failed" and "roc_auc 0.5800" in tags["gate_reason"]

    # Better than the bounds but not the champion by the margin: unchanged too.
    v3 = _version(name, tmp_path)
    close, update = _gate(client, name, v3, {"roc_auc": 0.705, "log_loss": 0.5})
    assert not close["passed"] and close["reasons"][0].startswith("vs champion: roc_auc 0.7050")
    assert close["champion"] == {"version": v1, "roc_auc": 0.70}
    update.commit()
    assert _aliases(client, name) == {"champion": v1}

    # A clear win: challenger, then champion; the replaced champion keeps `previous`.
    v4 = _version(name, tmp_path)
    win, update = _gate(client, name, v4, {"roc_auc": 0.75, "log_loss": 0.5})
    assert win["passed"] and _aliases(client, name) == {"champion": v1, "challenger": v4}
    update.commit()
    assert _aliases(client, name) == {"champion": v4, "previous": v1}
    assert client.get_model_version(name, v4).tags["gate"] == "passed"
