"""End to end: `kedro run` in a subprocess on the test env, outputs under a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import keras
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.types import DataType

from ml_lifecycle.model.layers import predict_raw

ROOT = Path(__file__).parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))

pytestmark = pytest.mark.e2e


def kedro_run(
    *args: str,
    params: dict[str, str] | None = None,
    env: str = "test",
    tracking: Path | None = None,
) -> subprocess.CompletedProcess:
    cmd = [KEDRO, "run", "--env", env, *args]
    if params:
        cmd += ["--params", ",".join(f"{k}={v}" for k, v in params.items())]
    environ = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    if tracking is not None:  # else the session's temporary store (tests/conftest.py)
        environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tracking}"
    return subprocess.run(
        cmd, check=False, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600
    )


def accounting(data_dir: Path) -> dict:
    return json.loads((data_dir / "08_reporting/row_accounting.json").read_text())


def copy_lifecycle(snapshot: Path, destination: Path) -> tuple[Path, Path]:
    """Copies the snapshot's data folder and tracking store into `destination`: (data, store).

    The copied store still points at the snapshot's artifact folder, which later runs add their
    own run folders to; nothing of the snapshot's is rewritten.
    """
    data, store = destination / "data", destination / "mlflow.db"
    shutil.copytree(snapshot / "data", data)
    # sqlite's backup API: a plain file copy could miss what still sits in the write-ahead log.
    with closing(sqlite3.connect(snapshot / "mlflow.db")) as source:
        with closing(sqlite3.connect(store)) as target:
            source.backup(target)
    return data, store


def test_default_pipeline_on_the_test_slice_accounts_for_every_row(
    spark, lifecycle_snapshot, tmp_path
):
    tmp_path, store = copy_lifecycle(lifecycle_snapshot, tmp_path)

    report = accounting(tmp_path)
    ingestion, cleaning = report["ingestion"], report["cleaning"]
    assert (ingestion["in"], ingestion["kept"], ingestion["quarantined"]) == (3368, 3368, 0)
    assert ingestion["sources"]["weather"]["in"] == 3310
    assert (cleaning["in"], cleaning["kept"], cleaning["quarantined"]) == (3368, 3274, 94)
    assert cleaning["quarantined_by_reason"] == {"missing_target:arr_delay": 94}

    primary = spark.read.parquet(str(tmp_path / "03_primary/table.parquet"))
    assert primary.count() == 3274
    assert {"temp", "plane_year", "airline_name", "day_of_week", "route"} <= set(primary.columns)
    assert primary.filter("arr_delay IS NULL OR temp IS NULL OR tailnum IS NULL").count() == 0
    stats = json.loads((tmp_path / "03_primary/cleaning_statistics.json").read_text())
    assert stats["fitted_on_rows"] == 3274

    # Data quality, then features: every clean row is validated, split and accounted for.
    quality, features = report["data_quality"], report["features"]
    assert quality["in"] == 3274 and quality["kept"] + quality["quarantined"] == 3274
    assert features["in"] == quality["kept"]
    assert features["kept"] + features["quarantined"] == features["in"]
    assert sum(features["kept_by_split"].values()) == features["kept"]
    feature_stats = json.loads((tmp_path / "04_feature/feature_statistics.json").read_text())
    assert feature_stats["rows_by_split"]["train"] == features["kept_by_split"]["train"]

    # The trained model takes raw rows (its preprocessing came from the train split).
    model = keras.models.load_model(tmp_path / "06_models/model.keras")
    test_rows = spark.read.parquet(str(tmp_path / "05_model_input/test.parquet")).limit(8)
    scores = predict_raw(model, test_rows.toPandas())
    assert scores.shape[0] == 8 and ((scores >= 0) & (scores <= 1)).all()
    summary = json.loads((tmp_path / "06_models/training_history.json").read_text())["summary"]
    assert (
        1 <= summary["epochs_run"] <= 3
        and summary["train_rows"] == feature_stats["rows_by_split"]["train"]
    )

    # Model and baseline are scored on the same test rows; every plot is written.
    metrics = json.loads((tmp_path / "08_reporting/evaluation/metrics.json").read_text())
    assert metrics["model"]["rows"] == metrics["baseline"]["rows"]
    assert metrics["model"]["rows"] == features["kept_by_split"]["test"]
    assert 0.0 <= metrics["model"]["roc_auc"] <= 1.0
    assert set(metrics["slices"]["model"]) == {"origin", "carrier"}
    by_origin = metrics["slices"]["model"]["origin"].values()
    assert sum(s["rows"] for s in by_origin) == metrics["model"]["rows"]
    plots = {p.name for p in (tmp_path / "08_reporting/evaluation/plots").iterdir()}
    assert {"training_curves.png", "roc_curve.png", "confusion_matrix.png"} <= plots
    _check_mlflow_record(store, report, metrics, summary, model, test_rows.toPandas())
    _check_the_gate_keeps_the_champion(store, tmp_path)


def _check_mlflow_record(store, report, metrics, summary, model, rows) -> None:
    # MLflow recorded the run: parameters, metrics, curves, reports, the model, the gate.
    features = report["features"]
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    (run,) = client.search_runs(client.get_experiment_by_name("ml-lifecycle").experiment_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["training.epochs"] == "3"
    assert run.data.params["training.seed"] == run.data.params["evaluation.baseline.seed"] == "42"
    assert run.data.params["features.split.method"] == "time"
    tags = run.data.tags
    assert tags["kedro_env"] == "test" and len(tags["git_commit"]) == 40
    assert tags["rows.cleaning"] == "in=3368 kept=3274 quarantined=94"
    assert run.data.metrics["rows.features.kept"] == features["kept"]
    assert run.data.metrics["test.model.roc_auc"] == pytest.approx(metrics["model"]["roc_auc"])
    curve = client.get_metric_history(run.info.run_id, "epoch.val_auc")
    assert [m.step for m in curve] == list(range(summary["epochs_run"]))
    logged = _artifacts(client, run.info.run_id)
    assert {
        "evaluation/plots/roc_curve.png",
        "evaluation/metrics.json",
        "data_quality/summary.json",
        "data_quality/data_docs/index.html",
        "features/feature_statistics.json",
        "reports/row_accounting.json",
        "registry/gate_decision.json",
    } <= logged

    # The first version passed the test env's bounds and became champion after the run.
    version = client.get_model_version_by_alias("flight_delay", "champion")
    assert version.version in (1, "1") and version.run_id == run.info.run_id
    assert version.tags["gate"] == "passed"
    assert tags["registry.outcome"] == "promoted version 1 to champion (previous: None)"
    # The registered champion takes raw rows and scores them as the trained model does.
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    try:
        champion = mlflow.pyfunc.load_model("models:/flight_delay@champion")
    finally:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    # MLflow enforces the signature: numbers as double (it refuses int64 -> double as unsafe).
    schema = champion.metadata.get_input_schema()
    doubles = [c.name for c in schema.inputs if c.type == DataType.double]
    served = champion.predict(rows[schema.input_names()].astype(dict.fromkeys(doubles, "float64")))
    assert served.to_numpy() == pytest.approx(predict_raw(model, rows)[:, 0], abs=1e-6)


def _check_the_gate_keeps_the_champion(store, tmp_path) -> None:
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")

    # A worse configuration: a new version the gate rejects; champion stays where it was.
    worse = kedro_run(
        "--pipelines",
        "training,registry",
        params={
            "data_dir": str(tmp_path),
            "training.learning_rate": "1e-7",
            "training.epochs": "1",
        },
        tracking=store,
    )
    assert worse.returncode == 0, worse.stdout[-3000:] + worse.stderr[-3000:]
    decision = json.loads((tmp_path / "08_reporting/registry/gate_decision.json").read_text())
    assert decision["version"] == "2" and not decision["passed"]
    assert decision["champion"]["version"] == "1"
    assert any(r.startswith("vs champion: roc_auc") for r in decision["reasons"])
    assert client.get_model_version_by_alias("flight_delay", "champion").version in (1, "1")
    assert client.get_model_version("flight_delay", "2").tags["gate"] == "failed"

    # A node that fails (the gate, after training logged a model): the MLflow run ends FAILED
    # with the node and its error; no alias moves.
    failed = kedro_run(
        "--pipelines",
        "training,registry",
        params={"data_dir": str(tmp_path), "registry.metric": "no_such_metric"},
        tracking=store,
    )
    assert failed.returncode != 0
    experiment = client.get_experiment_by_name("ml-lifecycle").experiment_id

    def last_run():
        runs = client.search_runs(
            [experiment], order_by=["attributes.start_time DESC"], max_results=1
        )
        return runs[0]

    last = last_run()
    assert last.info.status == "FAILED"
    assert last.data.tags["error_node"] == "gate_model"
    assert (
        "registry.metric 'no_such_metric' is not a metric of the champion"
        in last.data.tags["error"]
    )
    aliases = client.get_registered_model("flight_delay").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1"}

    # An invalid parameter stops the run before its first node, and that run ends FAILED too.
    invalid = kedro_run(
        "--pipelines",
        "training,registry",
        params={"data_dir": str(tmp_path), "training.schedule.name": "bogus"},
        tracking=store,
    )
    assert invalid.returncode != 0
    last = last_run()
    assert last.info.status == "FAILED"
    assert last.data.tags["error_node"] == "(parameters, before the first node)"
    assert "training.schedule.name" in last.data.tags["error"]
    aliases = client.get_registered_model("flight_delay").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1"}


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_a_bad_landing_file_stops_the_run_with_one_clear_sentence(tmp_path):
    # The CLI's side of SparkSourcesDataset's errors (each is tested in tests/datasets): the
    # sentence reaches the terminal.
    bad = tmp_path / "flights.csv"
    bad.write_bytes(b"year;month;day\n2013;1;1\n")
    result = kedro_run(
        "--pipeline", "ingestion", params={"data_dir": str(tmp_path), "flights_path": str(bad)}
    )
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "the header is delimited by ';', not ','" in output and "Source 'flights'" in output


def test_the_regression_task_runs_by_configuration_only(tmp_path):
    # conf/regression on the committed slice: the slice's paths and row-count bounds by --params.
    slice_dir = ROOT / "data/01_raw/nycflights13_slice"
    params = {
        "raw_dir": str(slice_dir),
        "flights_path": str(slice_dir / "flights.csv.gz"),
        "data_dir": str(tmp_path),
        "data_quality_overrides.row_count.min_value": "3000",
        "data_quality_overrides.row_count.max_value": "4000",
        "training.epochs": "2",
    }
    result = kedro_run(params=params, env="regression")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    statistics = json.loads((tmp_path / "04_feature/feature_statistics.json").read_text())
    assert statistics["task"] == "regression"
    assert statistics["label"]["mean"] > 0  # minutes of arrival delay, not a 0/1 rate
    metrics = json.loads((tmp_path / "08_reporting/evaluation/metrics.json").read_text())
    for side in ("model", "baseline"):
        assert {"rmse", "mae", "r2"} <= set(metrics[side])
        assert metrics[side]["rmse"] > 0 and metrics[side]["mae"] > 0
    assert metrics["model"]["rows"] == metrics["baseline"]["rows"]
    plots = {p.name for p in (tmp_path / "08_reporting/evaluation/plots").iterdir()}
    assert "residuals.png" in plots
