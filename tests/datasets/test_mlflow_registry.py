"""The registry's datasets on a real MLflow store: the champion pinned once, a new version, the
gate's update staged until the run succeeded."""

from __future__ import annotations

import mlflow
import pytest
from kedro.io import CachedDataset, DatasetError
from mlflow import MlflowClient

from ml_lifecycle.core.errors import ConfigError, NoChampionError
from ml_lifecycle.datasets import ChampionDataset, RegistryUpdateDataset, RegistryVersionDataset
from ml_lifecycle.datasets.mlflow_registry import CHAMPION
from ml_lifecycle.tracking.staged import CommitStaged, StagedDataset
from tests.champion import register_champion, tiny_model

NAME = "registry_dataset_test"
CLEANING = "cleaning/cleaning_statistics.json"


def _aliases(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in MlflowClient().get_registered_model(name).aliases.items()}


def test_a_missing_champion_is_one_sentence_or_none_where_it_may_be_absent(mlflow_store):
    with pytest.raises(NoChampionError) as error:
        ChampionDataset(model_name=NAME).load()
    message = str(error.value)
    assert message.startswith(f"The registered model '{NAME}' has no 'champion' version in ")
    assert "`kedro run --pipelines training,evaluation,registry`" in message
    # Kedro passes it through unwrapped, whatever wraps the dataset.
    cached = CachedDataset(dataset=ChampionDataset(model_name=NAME), copy_mode="assign")
    with pytest.raises(NoChampionError, match="has no 'champion' version"):
        cached.load()
    assert ChampionDataset(model_name=NAME, required=False).load() is None


def test_the_champion_is_resolved_once_to_one_pinned_version(mlflow_store):
    first, run_id = register_champion(NAME, tiny_model(seed=0))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict({"impute": {"temp": 41.5}}, CLEANING)
    dataset = CachedDataset(
        dataset=ChampionDataset(
            model_name=NAME,
            artifacts={"cleaning_statistics": CLEANING, "reference_profile": "monitoring/r.json"},
            optional_artifacts=["reference_profile"],
        ),
        copy_mode="assign",
    )
    champion = dataset.load()
    assert (champion["model_version"], champion["model_run_id"]) == (first, run_id)
    assert champion["model_uri"] == f"models:/{NAME}/{first}"
    assert champion["artifacts"] == {
        "cleaning_statistics": {"impute": {"temp": 41.5}},
        "reference_profile": None,
    }
    # A promotion during the run: every later reader still gets the version resolved first.
    second, _ = register_champion(NAME, tiny_model(seed=1))
    assert MlflowClient().get_model_version_by_alias(NAME, CHAMPION).version == int(second)
    assert dataset.load() is champion and champion["model_version"] == first
    # A fresh run resolves the new one; a required artifact its run lacks is named.
    assert ChampionDataset(model_name=NAME).load()["model_version"] == second
    with pytest.raises(DatasetError, match=f"v{second}: its run .* has no {CLEANING}"):
        ChampionDataset(model_name=NAME, artifacts={"cleaning_statistics": CLEANING}).load()


def test_the_keras_flavor_brings_the_pinned_versions_model(mlflow_store):
    model = tiny_model(seed=3)
    register_champion(NAME, model)
    champion = ChampionDataset(model_name=NAME, flavor="keras").load()
    assert champion["model"].count_params() == model.count_params()


def test_a_bad_configuration_is_named():
    with pytest.raises(ConfigError, match="flavor must be one of keras, spark_udf"):
        ChampionDataset(model_name=NAME, flavor="onnx")
    with pytest.raises(ConfigError, match=r"optional_artifacts names no artifact: \['x'\]"):
        ChampionDataset(model_name=NAME, optional_artifacts=["x"])


def _logged() -> str:
    with mlflow.start_run() as run:
        mlflow.log_text("a model", "model/MLmodel")
    return f"{run.info.artifact_uri}/model"


def _update(version: str, passed: bool) -> dict:
    reasons = [] if passed else ["minimum: auc 0.4000 is not >= 0.5000"]
    return {
        "model_name": NAME,
        "version": version,
        "passed": passed,
        "reasons": reasons,
        "tags": {"gate": "passed" if passed else "failed", "test_auc": "0.400000"},
    }


def test_a_new_version_is_registered_on_save_and_pointed_to(mlflow_store, tmp_path):
    registered = RegistryVersionDataset(model_name=NAME, filepath=str(tmp_path / "v.json"))
    assert not registered.exists()
    uri = _logged()
    registered.save({"model_uri": uri, "run_id": None})
    assert registered.load() == {
        "name": NAME,
        "version": "1",
        "model_uri": f"models:/{NAME}/1",
        "source": uri,
        "run_id": None,
    }
    registered.save({"model_uri": _logged(), "run_id": None})
    assert registered.load()["version"] == "2"
    other = RegistryVersionDataset(model_name="other", filepath=str(tmp_path / "v.json"))
    with pytest.raises(DatasetError, match=f"names the registered model '{NAME}'"):
        other.load()


def test_the_champion_moves_only_when_a_passed_update_is_committed(mlflow_store, tmp_path):
    registered = RegistryVersionDataset(model_name=NAME, filepath=str(tmp_path / "v.json"))
    versions = []
    for _ in range(3):
        registered.save({"model_uri": _logged()})
        versions.append(registered.load()["version"])
    v1, v2, v3 = versions
    update = RegistryUpdateDataset()
    assert isinstance(update, StagedDataset)

    # Saved: tagged and challenger at once; champion only on commit.
    update.save(_update(v1, passed=True))
    assert _aliases(NAME) == {"challenger": v1} and update.load()["version"] == v1
    assert MlflowClient().get_model_version(NAME, v1).tags["test_auc"] == "0.400000"
    assert update.commit() == f"promoted version {v1} to champion (previous: None)"
    assert _aliases(NAME) == {"champion": v1} and update.commit() is None

    # A failed run: the passed update of v2 is discarded, champion stays v1.
    update.save(_update(v2, passed=True))
    update.discard()
    assert update.commit() is None
    assert _aliases(NAME) == {"champion": v1, "challenger": v2}

    # A rejected version: tagged, committed as a rejection, no alias moves.
    update.save(_update(v3, passed=False))
    assert update.commit() == f"rejected version {v3}: minimum: auc 0.4000 is not >= 0.5000"
    assert _aliases(NAME) == {"champion": v1, "challenger": v2}
    assert MlflowClient().get_model_version(NAME, v3).tags["gate"] == "failed"


class _Catalog:
    def __init__(self, datasets: dict):
        self._datasets = datasets

    def get(self, name):
        return self._datasets[name]


def test_the_hook_commits_what_a_successful_run_staged_and_discards_a_failed_ones(
    mlflow_store, tmp_path
):
    registered = RegistryVersionDataset(model_name=NAME, filepath=str(tmp_path / "v.json"))
    registered.save({"model_uri": _logged()})
    version = registered.load()["version"]

    for succeeded in (False, True):
        update = RegistryUpdateDataset()
        hook = CommitStaged()
        hook.after_catalog_created(_Catalog({"registry_update": update, "other": registered}))
        hook.before_pipeline_run()
        update.save(_update(version, passed=True))
        hook.after_dataset_saved("registry_update")
        hook.after_dataset_saved("other")  # not staged: left alone
        hook.after_dataset_saved("memory")  # no catalog entry: nothing to commit
        if succeeded:
            hook.after_pipeline_run()
        else:
            hook.on_pipeline_error()
        assert ("champion" in _aliases(NAME)) is succeeded
    assert _aliases(NAME) == {"champion": version}
