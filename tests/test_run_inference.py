"""End to end: `kedro run --pipeline inference` on the test slice, a champion in a tmp store."""

from __future__ import annotations

import json

import pytest
import yaml
from mlflow import MlflowClient

from tests.champion import register_champion, tiny_model
from tests.test_run import ROOT, accounting, kedro_run

pytestmark = pytest.mark.e2e

MODEL_NAME = yaml.safe_load((ROOT / "conf/base/globals.yml").read_text())["model_name"]
KEYS = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]


def _output(result) -> str:
    return " ".join((result.stdout[-4000:] + result.stderr[-4000:]).split())


def test_without_a_champion_the_run_stops_before_reading_the_batch(mlflow_store, tmp_path):
    result = kedro_run("--pipeline", "inference", params={"data_dir": str(tmp_path)})
    assert result.returncode != 0
    output = _output(result)
    assert "NoChampionError" in output
    assert f"The registered model '{MODEL_NAME}' has no 'champion' version" in output
    assert not (tmp_path / "02_intermediate/inference").exists()


def test_a_batch_is_cleaned_like_training_and_scored_by_the_champion(spark, mlflow_store, tmp_path):
    version, run_id = register_champion(MODEL_NAME, tiny_model())
    result = kedro_run(
        "--pipelines", "ingestion,cleaning,inference", params={"data_dir": str(tmp_path)}
    )
    assert result.returncode == 0, _output(result)

    report = accounting(tmp_path)
    assert set(report) == {
        "ingestion",
        "cleaning",
        "inference_ingestion",
        "inference_cleaning",
        "inference",
    }
    # Training's cleaning quarantines the 94 flights without an arrival delay; the batch has no
    # target rule, so those flights are scored.
    assert report["cleaning"]["kept"] == 3274
    cleaning = report["inference_cleaning"]
    assert (cleaning["in"], cleaning["kept"], cleaning["quarantined"]) == (3368, 3368, 0)
    inference = report["inference"]
    assert (inference["in"], inference["scored"], inference["quarantined"]) == (3368, 3368, 0)
    assert (inference["model_version"], inference["model_run_id"]) == (version, run_id)

    predictions = spark.read.parquet(str(tmp_path / "07_model_output/predictions.parquet"))
    assert predictions.columns == [
        *KEYS,
        "flight_date",
        "prediction",
        "model_name",
        "model_version",
        "model_run_id",
        "scored_at",
    ]
    assert predictions.count() == 3368
    assert predictions.select(*KEYS).distinct().count() == 3368
    models = predictions.select("model_name", "model_version", "model_run_id").distinct()
    assert [tuple(r) for r in models.collect()] == [(MODEL_NAME, version, run_id)]  # bounded: 1
    bounds = predictions.selectExpr("min(prediction) AS lo", "max(prediction) AS hi").first()
    assert 0.0 < bounds["lo"] <= bounds["hi"] < 1.0
    champion = json.loads((tmp_path / "07_model_output/champion.json").read_text())
    assert champion["model_uri"] == f"models:/{MODEL_NAME}/{version}"

    # The inference run is in MLflow with its row counts.
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("ml-lifecycle").experiment_id]
    )
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.metrics["rows.inference.scored"] == 3368
