"""`make serve`'s target: the env's registered model, its champion, one sentence without one."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from ml_lifecycle.tracking.serve_target import NoChampionToServeError, champion_uri, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("env", "expected"),
    [(None, "flight_delay"), ("test", "flight_delay"), ("regression", "flight_delay_minutes")],
)
def test_the_model_name_comes_from_the_envs_configuration(env, expected, capsys):
    argv = ["--name"] + (["--env", env] if env else [])
    assert main(argv, project_path=ROOT) == 0
    assert capsys.readouterr().out == f"{expected}\n"


def test_without_a_champion_it_says_so_in_one_sentence_and_exits_1(tmp_path, monkeypatch, capsys):
    store = tmp_path / "empty.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    assert main(["--env", "regression"], project_path=ROOT) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    message = captured.err.strip().splitlines()[-1]
    assert message == (
        "Nothing to serve: the registered model 'flight_delay_minutes' has no 'champion' version "
        f"in sqlite:///{store}, so train and gate one first with `kedro run --env regression`."
    )
    assert "Traceback" not in captured.err
    assert message.count(". ") == 0 and message.endswith(".")
    assert not store.exists(), "asking must not create an empty store"


def test_a_model_without_a_champion_alias_in_an_existing_store(mlflow_store):
    MlflowClient().create_registered_model("other")
    with pytest.raises(NoChampionToServeError, match="'other' has no 'champion' version"):
        champion_uri("other", mlflow_store)


def test_the_champion_is_served_pinned_to_its_version(mlflow_store, tmp_path):
    client = MlflowClient()
    client.create_registered_model("flight_delay")
    (tmp_path / "model").mkdir()
    for _ in range(2):
        client.create_model_version("flight_delay", (tmp_path / "model").as_uri())
    client.set_registered_model_alias("flight_delay", "champion", "1")
    assert champion_uri("flight_delay", mlflow_store) == "models:/flight_delay/1"
