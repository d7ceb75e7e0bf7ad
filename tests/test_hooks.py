"""MlflowRunHooks on a real tracking store: tags, catalog-declared logging, failures, promotion."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from mlflow import MlflowClient

from ml_lifecycle.core.errors import JavaNotFoundError
from ml_lifecycle.datasets import RegistryUpdateDataset, RegistryVersionDataset
from ml_lifecycle.hooks import MlflowRunHooks, _flat_numbers, require_java
from ml_lifecycle.pipelines.registry.gate import decide
from ml_lifecycle.pipelines.registry.nodes import registry_update
from ml_lifecycle.tracking.staged import CommitStaged


class FakeCatalog:
    def __init__(self, datasets: dict, loaded: dict | None = None):
        self._datasets, self._loaded = datasets, loaded or {}

    def get(self, name):
        return self._datasets[name]

    def load(self, name):
        return self._loaded[name]


def _dataset(path: Path, mlflow_spec: dict) -> SimpleNamespace:
    return SimpleNamespace(_filepath=path, metadata={"mlflow": mlflow_spec})


def test_numeric_leaves_are_flattened_and_the_rest_skipped():
    data = {"a": 1, "b": {"c": 2.5, "d": "text", "e": [1, 2], "f": True, "g": float("nan")}}
    assert _flat_numbers(data, "p") == {"p.a": 1.0, "p.b.c": 2.5, "p.b.f": 1.0}


def test_a_run_gets_tags_metrics_history_and_artifacts_from_catalog_metadata(
    mlflow_store, tmp_path
):
    report = tmp_path / "metrics.json"
    report.write_text(json.dumps({"model": {"auc": 0.7}, "slices": {"x": {"auc": 0.1}}}))
    catalog = FakeCatalog(
        {
            "evaluation_metrics": _dataset(
                report, {"metrics": "test", "keys": ["model"], "artifact": "evaluation"}
            ),
            "training_history": _dataset(tmp_path / "none.json", {"history": "epoch"}),
            "row_accounting_cleaning": _dataset(
                tmp_path / "none.json", {"metrics": "rows.cleaning", "tags": True}
            ),
        }
    )
    hooks = MlflowRunHooks()
    hooks.after_catalog_created(catalog)
    with mlflow.start_run() as run:
        hooks.before_pipeline_run({"env": "test", "pipeline_names": ["training"]})
        hooks.after_dataset_saved("evaluation_metrics", json.loads(report.read_text()))
        hooks.after_dataset_saved("training_history", {"history": {"val_auc": [0.6, 0.65, 0.7]}})
        hooks.after_dataset_saved(
            "row_accounting_cleaning", {"in": 10, "kept": 8, "quarantined": 2}
        )
    client = MlflowClient()
    data = client.get_run(run.info.run_id).data
    assert data.tags["kedro_env"] == "test" and data.tags["pipeline"] == "training"
    assert len(data.tags["git_commit"]) == 40
    assert data.metrics["test.model.auc"] == 0.7 and "test.slices.x.auc" not in data.metrics
    history = client.get_metric_history(run.info.run_id, "epoch.val_auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.6), (1, 0.65), (2, 0.7)]
    assert data.tags["rows.cleaning"] == "in=10 kept=8 quarantined=2"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "evaluation")] == [
        "evaluation/metrics.json"
    ]


def _logged_model() -> str:
    with mlflow.start_run() as run:
        mlflow.log_text("a model", "model/MLmodel")
    return f"{run.info.artifact_uri}/model"


def _staged_promotion(name: str, model_uri: str, tmp_path: Path):
    """A version that passed the gate, its update saved through a catalog as a run saves it."""
    catalog = DataCatalog(
        {
            "registered_model": RegistryVersionDataset(
                model_name=name, filepath=str(tmp_path / "registered.json")
            ),
            "registry_update": RegistryUpdateDataset(),
        }
    )
    catalog.save("registered_model", {"model_uri": model_uri})
    version = catalog.load("registered_model")["version"]
    params = {
        "model_name": name,
        "minimum": {"auc": 0.5},
        "maximum": {},
        "metric": "auc",
        "greater_is_better": True,
        "margin": 0.0,
    }
    decision = decide(name, version, {"auc": 0.8}, None, None, params)
    catalog.save("registry_update", registry_update(decision))
    return catalog, decision


def _champion(client: MlflowClient, name: str) -> str | None:
    aliases = client.get_registered_model(name).aliases
    return None if "champion" not in aliases else str(aliases["champion"])


def test_champion_moves_after_a_successful_run_and_never_after_a_failed_one(mlflow_store, tmp_path):
    client, name = MlflowClient(), "hook_test"
    gate = Pipeline([node(lambda: None, inputs=None, outputs="registry_update", name="gate")])

    hooks, staged = MlflowRunHooks(), CommitStaged()
    first, second = _logged_model(), _logged_model()
    with mlflow.start_run() as failed_run:
        hooks.before_pipeline_run({"env": "test"})
        catalog, decision = _staged_promotion(name, first, tmp_path)
        staged.after_catalog_created(catalog)
        staged.after_dataset_saved("registry_update")
        hooks.on_node_error(gate.nodes[0])
        error = ValueError("the disk is full")
        with pytest.raises(ValueError):
            raise error
        hooks.on_pipeline_error(error)
        staged.on_pipeline_error()
    # Kedro calls after_pipeline_run only when every node succeeded: here it is never called,
    # and the failed run's staged promotion is gone.
    staged.after_pipeline_run()
    assert _champion(client, name) is None
    assert str(client.get_registered_model(name).aliases["challenger"]) == decision["version"]
    tags = client.get_run(failed_run.info.run_id).data.tags
    assert tags["error"] == "ValueError: the disk is full" and tags["error_node"] == "gate"
    assert "registry.outcome" not in tags
    traceback_text = mlflow.artifacts.load_text(
        f"{failed_run.info.artifact_uri}/error/traceback.txt"
    )
    assert "the disk is full" in traceback_text

    with mlflow.start_run() as ok_run:
        hooks.before_pipeline_run({"env": "test"})
        staged.before_pipeline_run()
        catalog, decision = _staged_promotion(name, second, tmp_path)
        staged.after_catalog_created(catalog)
        # Only a dataset that stages its save is committed; another output is not.
        staged.after_dataset_saved("registered_model")
        staged.after_dataset_saved("registry_update")
        assert _champion(client, name) is None
        staged.after_pipeline_run()
    assert _champion(client, name) == decision["version"]
    outcome = client.get_run(ok_run.info.run_id).data.tags["registry.outcome"]
    assert outcome == f"promoted version {decision['version']} to champion (previous: None)"


def test_each_node_duration_is_logged_and_recorded(mlflow_store, monkeypatch, caplog):
    hooks = MlflowRunHooks()
    clock = iter([100.0, 112.5])
    monkeypatch.setattr("ml_lifecycle.hooks.time.perf_counter", lambda: next(clock))
    train = node(lambda x: x, "a", "b", name="train_model")
    with mlflow.start_run() as run, caplog.at_level("INFO", logger="ml_lifecycle.hooks"):
        hooks.before_pipeline_run({"env": "test", "pipeline_names": ["training"]})
        hooks.before_node_run(train)
        hooks.after_node_run(train)
    metrics = MlflowClient().get_run(run.info.run_id).data.metrics
    assert metrics["seconds.train_model"] == 12.5
    assert "Node train_model took 12.5 s" in caplog.text


def test_a_retraining_run_is_the_child_of_the_run_that_started_it(mlflow_store, monkeypatch):
    with mlflow.start_run() as parent:
        pass
    monkeypatch.setenv("ML_LIFECYCLE_PARENT_RUN_ID", parent.info.run_id)
    with mlflow.start_run() as child:
        MlflowRunHooks().before_pipeline_run({"env": "test", "pipeline_names": ["training"]})
    tags = MlflowClient().get_run(child.info.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id


def test_without_java_the_run_stops_with_one_sentence(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match=r"Spark needs Java 17 or later and none was found"):
        require_java()
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    require_java()
