"""`kedro iterate`'s entry point: from the decision to the retraining's command, and its outcome.

No subprocess here: the command lines are pure functions of the decision, and the retraining run
is a stand-in that records a child MLflow run (tests/test_run_iterate.py runs the real one).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from click.testing import CliRunner
from kedro.io import DataCatalog, MemoryDataset
from mlflow import MlflowClient

from ml_lifecycle import cli
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.hooks import PARENT_RUN_ENV
from ml_lifecycle.orchestration import iterate
from ml_lifecycle.orchestration.iterate import (
    IterationFailed,
    failure_message,
    kedro_command,
    outcome_of,
    plan_retraining,
    record,
)
from ml_lifecycle.settings import CONFIG_LOADER_ARGS, LifecycleConfigLoader

ROOT = Path(__file__).resolve().parents[2]
REASONS = ["performance: roc_auc 0.5849 is below 0.6"]


def _decision(**retraining) -> dict:
    spec = {
        "pipelines": ["features", "training"],
        "window": {"flights_path": "/landing/2014-01"},
        "params": {"features": {"split": {"cutoffs": None}}},
        "data_dir": "/life/iterate",
    }
    return {"retrain": True, "reasons": REASONS, "model": {}, "retraining": spec | retraining}


def _params(command: list[str]) -> dict[str, str]:
    values = command[command.index("--params") + 1].split(",")
    return dict(value.split("=", 1) for value in values)


def test_the_retraining_command_passes_nested_params_as_dotted_keys():
    command = kedro_command(
        "test",
        ["features", "training"],
        {"data_dir": "/d", "features": {"split": {"cutoffs": None, "fractions": {"train": 0.7}}}},
    )
    assert command[1:] == [
        "run", "--env", "test", "--pipelines", "features,training",
        "--params", "data_dir=/d,features.split.cutoffs=null,features.split.fractions.train=0.7",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="holds a comma"):
        kedro_command("test", ["training"], {"flights_path": "a,b"})


def test_no_retraining_asked_for_starts_nothing_and_says_why():
    decision = {**_decision(), "retrain": False, "reasons": []}
    assert plan_retraining(decision, "test", {"data_dir": "/life"}, "run1") is None
    assert outcome_of(decision) == {"retrained": False, "reasons": []}
    assert failure_message(outcome_of(decision)) is None


def test_the_retraining_runs_the_decisions_pipelines_on_its_window_in_a_folder_of_its_own():
    runtime = {"data_dir": "/life", "inference_batch_path": "/landing/2014-01", "a": {"b": True}}
    retraining = plan_retraining(_decision(), "test", runtime, "run1")
    assert retraining.window == {"flights_path": "/landing/2014-01"}
    assert retraining.data_dir == "/life/iterate/run1"
    command = retraining.command
    assert command[1:6] == ["run", "--env", "test", "--pipelines", "features,training"]
    # This run's runtime parameters, then iterate.retrain.params, the window, its data folder.
    assert _params(command) == {
        "data_dir": "/life/iterate/run1",
        "inference_batch_path": "/landing/2014-01",
        "a.b": "true",
        "features.split.cutoffs": "null",
        "flights_path": "/landing/2014-01",
    }
    # A trailing slash on the configured folder makes no double slash.
    again = plan_retraining(_decision(data_dir="s3://bucket/iterate/"), "test", {}, "run2")
    assert again.data_dir == "s3://bucket/iterate/run2"


def test_the_retraining_needs_a_window_pipelines_and_a_data_folder():
    with pytest.raises(ConfigError, match=r"^iterate.retrain.window is empty"):
        plan_retraining(_decision(window={}), "test", {}, "run1")
    with pytest.raises(ConfigError, match=r"^iterate.retrain.pipelines is empty"):
        plan_retraining(_decision(pipelines=[]), "test", {}, "run1")
    with pytest.raises(ConfigError, match=r"^iterate.retrain.data_dir is not set"):
        plan_retraining(_decision(data_dir=None), "test", {}, "run1")


def test_the_retrainings_data_folder_is_not_the_lifecycles(tmp_path):
    """With the project's config, no output of the retraining lands in the lifecycle's folder."""
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "custom_resolvers"}
    life = tmp_path / "data"

    def loader(data_dir: str) -> LifecycleConfigLoader:
        runtime = {"data_dir": data_dir}
        return LifecycleConfigLoader(str(ROOT / "conf"), env="test", runtime_params=runtime, **args)

    lifecycle = loader(str(life))
    spec = lifecycle["parameters"]["iterate"]["retrain"]
    assert spec["data_dir"] == f"{life}/iterate"
    decision = _decision(**spec)
    retraining = plan_retraining(decision, "test", {"data_dir": str(life)}, "abc123")
    assert retraining.data_dir == f"{life}/iterate/abc123"
    assert _params(retraining.command)["data_dir"] == retraining.data_dir
    ours, theirs = lifecycle["catalog"], loader(retraining.data_dir)["catalog"]
    for name in (
        "evaluation_metrics",
        "row_accounting_features",
        "model_input_train",
        "gate_decision",
        "feature_statistics",
    ):
        mine, retrained = Path(ours[name]["filepath"]), Path(theirs[name]["filepath"])
        assert mine.is_relative_to(life) and not mine.is_relative_to(retraining.data_dir)
        assert retrained.is_relative_to(retraining.data_dir), (name, retrained)
        assert retrained.relative_to(retraining.data_dir) == mine.relative_to(life)


def _stand_in(child_tags: dict, returncode: int, calls: list):
    """A `subprocess.run` that records a child MLflow run instead of starting `kedro run`."""

    def run(command, check, env, cwd):
        calls.append({"command": command, "env": env, "cwd": cwd})
        client = MlflowClient()
        parent = client.get_run(env[PARENT_RUN_ENV])
        child = client.create_run(
            parent.info.experiment_id, tags={"mlflow.parentRunId": parent.info.run_id, **child_tags}
        )
        status = "FINISHED" if returncode == 0 else "FAILED"
        client.set_terminated(child.info.run_id, status)
        calls[-1]["child"] = child.info.run_id
        return SimpleNamespace(returncode=returncode)

    return run


def test_a_failed_retraining_fails_iterate_saying_where_and_why(tmp_path, mlflow_store):
    error = "DataQualityError: 1 critical expectation(s) failed: - target_rate: observed 0.6996"
    tags = {"error": error, "error_node": "check_quality_gate"}
    with mlflow.start_run() as parent:
        pass
    decision = _decision(window={"flights_path": "w"}, pipelines=["training"])
    retraining = plan_retraining(decision, "test", {}, parent.info.run_id)
    calls: list = []
    outcome = iterate.retrain(
        decision, retraining, parent.info.run_id, tmp_path, run=_stand_in(tags, 1, calls)
    )
    (call,) = calls
    assert call["command"] == retraining.command and call["cwd"] == tmp_path
    assert call["env"][PARENT_RUN_ENV] == parent.info.run_id
    assert call["env"]["MLFLOW_TRACKING_URI"] == mlflow_store
    assert outcome["run_id"] == call["child"] and outcome["status"] == "FAILED"
    message = failure_message(outcome)
    assert "failed (exit 1) in node check_quality_gate: DataQualityError" in message
    assert "target_rate" in message and f"its MLflow run is {call['child']}" in message
    # The outcome is saved and kept on the iterate run, failed or not.
    catalog = DataCatalog({"iteration_outcome": MemoryDataset()})
    record(catalog, parent.info.run_id, outcome)
    assert catalog.load("iteration_outcome") == outcome
    kept = mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/iterate/outcome.json")
    assert kept["returncode"] == 1 and kept["error_node"] == "check_quality_gate"
    assert kept["reasons"] == decision["reasons"] and kept["window"] == {"flights_path": "w"}
    assert kept["data_dir"] == f"/life/iterate/{parent.info.run_id}"
    assert kept["command"] == retraining.command and kept["seconds"] >= 0


def test_a_rejected_candidate_is_a_finished_retraining_not_a_failure(tmp_path, mlflow_store):
    with mlflow.start_run() as parent:
        pass
    decision = _decision()
    retraining = plan_retraining(decision, "test", {}, parent.info.run_id)
    tags = {"registry.outcome": "rejected: roc_auc 0.55 < 0.6"}
    calls: list = []
    outcome = iterate.retrain(
        decision, retraining, parent.info.run_id, tmp_path, run=_stand_in(tags, 0, calls)
    )
    assert outcome["retrained"] is True and outcome["returncode"] == 0
    assert outcome["registry_outcome"] == tags["registry.outcome"]
    assert outcome["status"] == "FINISHED" and "error" not in outcome
    assert failure_message(outcome) is None


def test_kedro_iterate_exits_non_zero_with_the_failure_in_one_message(monkeypatch):
    seen = {}

    def failing(env, runtime_params):
        seen.update(env=env, runtime_params=runtime_params)
        raise IterationFailed("Iterate: the retraining run failed (exit 1) in node n: E: x")

    monkeypatch.setattr(iterate, "iterate", failing)
    args = ["iterate", "--env", "test", "--params", "data_dir=/d,features.split.cutoffs=null"]
    result = CliRunner().invoke(cli.cli, args)
    assert result.exit_code == 1
    assert "Error: Iterate: the retraining run failed (exit 1) in node n: E: x" in result.output
    assert seen == {
        "env": "test",
        "runtime_params": {"data_dir": "/d", "features": {"split": {"cutoffs": None}}},
    }
    monkeypatch.setattr(iterate, "iterate", lambda env, runtime_params: {"retrained": False})
    assert CliRunner().invoke(cli.cli, ["iterate"]).exit_code == 0
