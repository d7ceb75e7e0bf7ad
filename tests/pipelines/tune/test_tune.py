"""The tune pipeline, in-process on the tiny landing's shards with conf/test's budget (2 trials
of 2 epochs), against a copy of conf/ in a temporary folder (it writes conf/test/ there)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from kedro.framework.context import KedroContext
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.project import configure_project, pipelines, settings
from kedro.runner import SequentialRunner
from mlflow import MlflowClient

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.hooks import MlflowRunHooks
from ml_lifecycle.model.overrides import merge_tuned
from ml_lifecycle.params_hooks import validate_blocks
from ml_lifecycle.pipelines.training.nodes import train_model
from ml_lifecycle.pipelines.tune.params import parse_tune
from tests.model_data import TRAINING

ROOT = Path(__file__).parents[3]
ENV = "test"
TUNED_FILE = "parameters_training_tuned.yml"


class Tuning:
    """A copied conf/, a data folder holding the lifecycle's shards, an MLflow store of its own."""

    def __init__(self, root: Path, shards: Path):
        self.conf, self.data = root / "conf", root / "data"
        shutil.copytree(ROOT / "conf", self.conf, ignore=shutil.ignore_patterns(TUNED_FILE))
        for part in ("04_feature/feature_statistics.json", "05_model_input"):
            copy = shutil.copytree if (shards / part).is_dir() else shutil.copy
            (self.data / part).parent.mkdir(parents=True, exist_ok=True)
            copy(shards / part, self.data / part)
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)
        self.experiment_id = self.client.create_experiment(
            "tune", artifact_location=(root / "mlruns").as_uri()
        )

    def context(self, **params: Any) -> KedroContext:
        configure_project("ml_lifecycle")
        runtime = {"data_dir": str(self.data), **params}
        loader = settings.CONFIG_LOADER_CLASS(
            conf_source=str(self.conf), env=ENV, runtime_params=runtime,
            **settings.CONFIG_LOADER_ARGS,
        )  # fmt: skip
        return KedroContext(
            package_name="ml_lifecycle", project_path=ROOT, config_loader=loader,
            hook_manager=_create_hook_manager(), env=ENV, runtime_params=runtime,
        )  # fmt: skip

    def run(self, **params: Any) -> str:
        """Runs `tune` in an MLflow run, with the project's MLflow hook; returns the run's id."""
        catalog = self.context(**params).catalog
        hooks = MlflowRunHooks()
        manager = _create_hook_manager()
        manager.register(hooks)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.uri)
        try:
            with mlflow.start_run(experiment_id=self.experiment_id, run_name="tune") as run:
                hooks.after_catalog_created(catalog)
                hooks.before_pipeline_run({"env": ENV, "pipeline_names": ["tune"]})
                SequentialRunner().run(pipelines["tune"], catalog, hook_manager=manager)
        finally:
            mlflow.set_tracking_uri(previous)
        return run.info.run_id

    def trial_runs(self, parent: str) -> list:
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'"
        )
        return sorted(runs, key=lambda r: int(r.data.tags["tune.trial"]))


@pytest.fixture(scope="module")
def tuned(lifecycle, tmp_path_factory):
    lifecycle.run("features")
    tuning = Tuning(tmp_path_factory.mktemp("tune"), lifecycle.root)
    first = tuning.run()
    return tuning, first


def test_tune_runs_its_trials_and_writes_the_envs_tuned_keys(tuned):
    tuning, _ = tuned
    space = tuning.context().params["tune"]["space"]
    written = yaml.safe_load((tuning.conf / ENV / TUNED_FILE).read_text())["training_tuned"]
    assert sorted(written) == sorted(space)
    assert 3e-4 <= written["learning_rate"] <= 1e-2
    assert written["hidden_units"] in ([32, 16], [16])  # conf/test's choices
    assert written["schedule.name"] in ("cosine", "constant")
    assert not (ROOT / "conf" / ENV / TUNED_FILE).exists()  # the repository's conf is untouched
    # The next training run in the env reads them through the config loader, merged on training.
    params = tuning.context().params
    assert params["training_tuned"] == written
    block, keys = merge_tuned(params["training"], params["training_tuned"])
    assert keys == sorted(space) and block.hidden_units == written["hidden_units"]
    assert block.learning_rate == pytest.approx(written["learning_rate"])
    catalog = tuning.context().catalog
    model, history = train_model(
        *(catalog.load(n) for n in ("model_input_train", "model_input_validation")),
        catalog.load("feature_statistics"), params["training"], params["training_tuned"],
    )  # fmt: skip
    assert history["summary"]["tuned_keys"] == sorted(space)
    units = [  # each of conf/base's ensemble members has the tuned layers: the first one's
        model.get_layer(f"member_0_dense_{i}").units for i in range(len(written["hidden_units"]))
    ]
    assert units == written["hidden_units"]


def test_each_trial_is_a_nested_run_with_its_params_curve_and_state(tuned):
    tuning, parent = tuned
    runs = tuning.trial_runs(parent)
    assert [r.data.tags["tune.trial"] for r in runs] == ["0", "1"]
    names = {k for k in runs[0].data.params}
    assert names == {f"training.{k}" for k in tuning.context().params["tune"]["space"]}
    assert all(set(r.data.params) == names for r in runs)  # comparable across trials
    for run in runs:
        assert run.data.tags["tune.state"] in ("COMPLETE", "PRUNED")
        curve = tuning.client.get_metric_history(run.info.run_id, "val_auc")
        assert 1 <= len(curve) <= 2 and [m.step for m in curve] == list(range(len(curve)))
    complete = [r for r in runs if r.data.tags["tune.state"] == "COMPLETE"]
    best = max(r.data.metrics["value"] for r in complete)
    tune_run = tuning.client.get_run(parent)
    assert tune_run.data.metrics["tune.best_value"] == pytest.approx(best)
    artifacts = {a.path for a in tuning.client.list_artifacts(parent, "tune")}
    assert {"tune/trials.json", f"tune/{TUNED_FILE}"} <= artifacts


def test_a_second_run_resumes_the_study_with_only_the_remaining_trial(tuned):
    tuning, first = tuned
    second = tuning.run(tune={"n_trials": 3})
    trials = mlflow.artifacts.load_dict(
        f"{tuning.client.get_run(second).info.artifact_uri}/tune/trials.json"
    )["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert [t["this_run"] for t in trials] == [False, False, True]
    assert len(tuning.trial_runs(second)) == 3 and len(tuning.trial_runs(first)) == 2
    assert (tuning.data / "06_models/tune/study.db").is_file()


def test_tune_never_reads_the_test_split_and_is_not_in_the_default_run():
    configure_project("ml_lifecycle")
    assert "model_input_test" not in pipelines["tune"].inputs()
    assert {"model_input_train", "model_input_validation"} <= pipelines["tune"].inputs()
    assert "tune_training" not in {n.name for n in pipelines["__default__"].nodes}


def test_a_bad_space_key_or_tuned_key_is_one_sentence_naming_it():
    base = yaml.safe_load((ROOT / "conf/base/parameters_tune.yml").read_text())["tune"]
    space = {**base["space"], "learnin_rate": base["space"]["learning_rate"]}
    with pytest.raises(ConfigError, match=r"^tune\.space\.learnin_rate is not a key of the "
                       r"training block; did you mean learning_rate\?$"):  # fmt: skip
        parse_tune({**base, "space": space})
    parameters = {"training": TRAINING, "training_tuned": {"dropout": 2.0}}
    with pytest.raises(ConfigError, match=r"^training_tuned\.dropout must be less than 1"):
        validate_blocks(parameters, ["training", "training_tuned"])


def test_tuned_keys_merge_dotted_or_nested_and_a_new_schedule_keeps_its_own_keys():
    block, keys = merge_tuned(TRAINING, {"schedule.name": "constant", "embedding": {"min_dim": 3}})
    assert keys == ["embedding.min_dim", "schedule.name"]
    assert block.schedule.name == "constant" and block.embedding.min_dim == 3
    assert block.embedding.max_dim == TRAINING["embedding"]["max_dim"]
    assert merge_tuned(TRAINING, {})[1] == [] and merge_tuned(TRAINING, None)[0].dropout == 0.1


def test_a_trial_left_running_by_a_killed_run_is_failed_and_retried(tmp_path):
    import time  # noqa: PLC0415

    import optuna  # noqa: PLC0415

    from ml_lifecycle.datasets import OptunaStudyDataset  # noqa: PLC0415

    store = OptunaStudyDataset(str(tmp_path / "study.db"), heartbeat_interval=1, grace_period=1)
    study = store.load().open("s", "maximize")
    killed = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study._storage.record_heartbeat(killed._trial_id)  # then the run "dies"
    time.sleep(2)
    again = store.load().open("s", "maximize")
    again.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    states = [t.state.name for t in again.trials]
    assert states == ["FAIL", "COMPLETE"]
    assert again.trials[1].params == again.trials[0].params  # retried with the same parameters
    with pytest.raises(Exception, match="optimizes maximize, not minimize"):
        store.load().open("s", "minimize")
