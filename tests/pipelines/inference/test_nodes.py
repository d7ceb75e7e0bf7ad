"""Inference nodes on the champion's dataset: pinned once, Spark scoring, quarantine, accounting."""

from __future__ import annotations

import math

import mlflow
import pytest
from mlflow import MlflowClient

from ml_lifecycle.core.errors import ConfigError, NoChampionError, RowAccountingError
from ml_lifecycle.datasets import ChampionDataset, OptionalJSONDataset
from ml_lifecycle.datasets.mlflow_registry import CHAMPION
from ml_lifecycle.pipelines.inference.nodes import (
    account_inference,
    admit_batch,
    champion_cleaning_statistics,
    describe_champion,
    score_batch,
)
from tests.champion import multiclass_statistics, register_champion, tiny_model

NAME = "flight_delay_test"
PARAMS = {"keys": ["id"], "passthrough": ["region"]}
FEATURES = ["distance", "temp", "carrier", "sched_dep_hour"]
SCHEMA = (
    "id long, region string, distance double, temp double, carrier string, sched_dep_hour int,"
    " note string"
)
ROWS = [
    (1, "east", 1000.0, 50.0, "UA", 7, "known values"),
    (2, "west", None, None, None, None, "every feature missing"),
    (3, "east", 2500.0, 80.0, "ZZ", 23, "unseen carrier and hour"),
    (4, "west", 300.0, float("nan"), "DL", 6, "NaN is missing"),
    (5, "east", float("inf"), 50.0, "DL", 6, "infinite distance: the model returns NaN"),
]


def find_champion(name: str, flavor: str | None = "spark_udf") -> dict:
    """The champion as `inference.champion` loads it (conf/base/catalog_inference.yml)."""
    return ChampionDataset(
        model_name=name,
        artifacts={"cleaning_statistics": "cleaning/cleaning_statistics.json"},
        optional_artifacts=["cleaning_statistics"],
        flavor=flavor,
        udf_args={"env_manager": "local"},
    ).load()


@pytest.fixture
def batch(spark):
    # One partition: one Python worker loads TensorFlow and the model, not two.
    return spark.createDataFrame(ROWS, SCHEMA).coalesce(1)


def test_no_champion_says_how_to_get_one(mlflow_store):
    with pytest.raises(NoChampionError) as error:
        find_champion(NAME)
    message = str(error.value)
    assert f"'{NAME}' has no 'champion' version" in message and "kedro run" in message
    # A registered model whose versions never passed the gate has no champion either.
    register_champion(NAME, tiny_model(), champion=False)
    with pytest.raises(NoChampionError, match="has no 'champion' version"):
        find_champion(NAME)


def test_the_batch_is_cleaned_with_the_champions_own_statistics(mlflow_store, tmp_path):
    folder = OptionalJSONDataset(filepath=str(tmp_path / "cleaning_statistics.json"))
    assert folder.load() is None  # a fresh data folder: no file is not an error here
    folders = {"impute": {"temp": 50.0}}
    folder.save(folders)
    assert folder.load() == folders

    # The champion's run logged its own: those win over the folder's.
    version, run_id = register_champion(NAME, tiny_model())
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict({"impute": {"temp": 41.5}}, "cleaning/cleaning_statistics.json")
    champion = find_champion(NAME, flavor=None)
    assert champion_cleaning_statistics(champion, folders) == {"impute": {"temp": 41.5}}
    assert champion_cleaning_statistics(champion, None) == {"impute": {"temp": 41.5}}

    # A champion from a run without the cleaning stage: the folder's, else one sentence.
    register_champion(NAME, tiny_model(seed=1))
    champion = find_champion(NAME, flavor=None)
    assert champion["model_version"] != version
    assert champion["artifacts"] == {"cleaning_statistics": None}
    assert champion_cleaning_statistics(champion, folders) == folders
    with pytest.raises(ConfigError, match="kedro run --pipelines cleaning"):
        champion_cleaning_statistics(champion, None)


def test_the_champion_is_pinned_to_its_version_with_its_raw_feature_schema(mlflow_store):
    first, run_id = register_champion(NAME, tiny_model(seed=0))
    register_champion(NAME, tiny_model(seed=1), champion=False)
    champion = find_champion(NAME, flavor=None)
    assert (champion["model_version"], champion["model_run_id"]) == (first, run_id)
    assert champion["model_uri"] == f"models:/{NAME}/{first}"
    assert champion["task"] == "binary" and champion["outputs"] == ["prediction"]
    assert champion["features"] == {
        "distance": "double",
        "temp": "double",
        "carrier": "string",
        "sched_dep_hour": "double",
    }
    # The record written beside the predictions is JSON: no model, the artifacts by name only.
    record = describe_champion(champion)
    assert record["model_uri"] == champion["model_uri"] and record["artifacts"] == []
    assert "udf" not in record and "model" not in record
    assert admit_batch(champion, {"flights": "frame"}) == {"flights": "frame"}


def test_the_batch_is_scored_by_the_pinned_version_and_unscorable_rows_quarantined(
    mlflow_store, batch
):
    # Without a cleaning plan (a model logged before cleaning travelled with it) an infinite
    # input reaches Keras, which returns NaN: scoring quarantines that row.
    first, run_id = register_champion(NAME, tiny_model(seed=0), cleaning={"columns": {}})
    champion = find_champion(NAME)
    # A promotion after the run resolved the champion does not change what scores this batch.
    second, _ = register_champion(NAME, tiny_model(seed=1))
    assert MlflowClient().get_model_version_by_alias(NAME, CHAMPION).version == int(second)

    predictions, quarantine = score_batch(batch, champion, PARAMS)
    assert predictions.columns == [
        "id",
        "region",
        "prediction",
        "model_name",
        "model_version",
        "model_run_id",
        "scored_at",
    ]
    assert dict(predictions.dtypes)["scored_at"] == "timestamp"
    scored = {row["id"]: row for row in predictions.collect()}  # bounded: five rows
    assert sorted(scored) == [1, 2, 3, 4]
    assert {(r["model_name"], r["model_version"], r["model_run_id"]) for r in scored.values()} == {
        (NAME, first, run_id)
    }
    assert len({r["scored_at"] for r in scored.values()}) == 1

    # Spark's scores are the pinned version's own pyfunc scores, not the new champion's.
    local = batch.select(*FEATURES).toPandas().astype({"sched_dep_hour": "float64"})
    pinned = mlflow.pyfunc.load_model(f"models:/{NAME}/{first}").predict(local)
    newer = mlflow.pyfunc.load_model(f"models:/{NAME}/{second}").predict(local)
    for i in (1, 2, 3, 4):
        assert 0.0 < scored[i]["prediction"] < 1.0
        assert scored[i]["prediction"] == pytest.approx(pinned[i - 1], abs=1e-6)
        assert scored[i]["prediction"] != pytest.approx(newer[i - 1], abs=1e-6)
    assert math.isnan(pinned[4])

    bad = quarantine.collect()  # bounded: one row
    assert [(r["id"], r["_reason"]) for r in bad] == [(5, "non_finite_prediction")]
    assert bad[0]["note"].startswith("infinite distance") and bad[0]["model_version"] == first
    assert set(batch.columns) < set(quarantine.columns)

    record = account_inference(batch, predictions, quarantine, champion)
    assert (record["in"], record["scored"], record["quarantined"]) == (5, 4, 1)
    assert record["quarantined_by_reason"] == {"non_finite_prediction": 1}
    assert (record["model_version"], record["model_run_id"]) == (first, run_id)


def test_multiclass_writes_the_class_and_one_probability_per_class(mlflow_store, batch):
    statistics = multiclass_statistics()
    register_champion(NAME, tiny_model(statistics), statistics)
    champion = find_champion(NAME)
    assert champion["outputs"] == ["early", "on_time", "late"]

    predictions, quarantine = score_batch(batch.filter("id < 5"), champion, PARAMS)
    probabilities = ["probability_early", "probability_on_time", "probability_late"]
    assert predictions.columns[:6] == ["id", "region", "prediction", *probabilities]
    rows = predictions.collect()  # bounded: four rows
    assert len(rows) == 4 and quarantine.count() == 0
    for row in rows:
        values = {c: row[f"probability_{c}"] for c in ("early", "on_time", "late")}
        assert sum(values.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["prediction"] == max(values, key=values.get)


def test_a_batch_without_a_feature_of_the_champion_stops_with_its_name(mlflow_store, batch):
    register_champion(NAME, tiny_model())
    champion = find_champion(NAME)
    with pytest.raises(ConfigError, match=r"features of flight_delay_test v1: column 'temp'"):
        score_batch(batch.drop("temp"), champion, PARAMS)
    with pytest.raises(ConfigError, match="inference.keys/passthrough: column 'regoin'"):
        score_batch(batch, champion, {**PARAMS, "passthrough": ["regoin"]})


def test_accounting_refuses_rows_that_were_neither_scored_nor_quarantined(spark, batch):
    champion = {"model_name": NAME, "model_version": "1", "model_run_id": "r"}
    predictions = batch.filter("id < 4")
    quarantine = batch.filter("id = 5").selectExpr("*", "'non_finite_prediction' AS _reason")
    with pytest.raises(RowAccountingError, match="5 rows in but 3 kept \\+ 1 quarantined"):
        account_inference(batch, predictions, quarantine, champion)
