"""End to end: lifecycle -> `kedro iterate` on the training slice (no retrain) -> a drifted batch.

The drifted batch comes from the `synthetic` node with a shift (a new carrier `ZZ` on 30% of
the rows, distances x 1.6): exactly those features drift, the champion still scores every `ZZ`
row (out of vocabulary), and `kedro iterate` starts a retraining run that the registry gate
judges, in a data folder of its own. One `kedro run`, two `kedro iterate`s plus the child:
`make check-scenarios` (CI), not `make test`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from ml_lifecycle.pipelines.synthetic.nodes import synthesize_rows
from tests.pipelines.synthetic.test_nodes import PARAMS, SLICE, _sources
from tests.test_run import KEDRO, ROOT, kedro_run

pytestmark = [pytest.mark.e2e, pytest.mark.scenario]

MODEL = "flight_delay"
DRIFTED = {"carrier", "distance"}


def _output(result) -> str:
    return result.stdout[-3000:] + result.stderr[-5000:]


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def kedro_iterate(params: dict[str, str], tracking: Path) -> subprocess.CompletedProcess:
    """`kedro iterate --env test --params ...`: the iterate run, then a retraining if asked for."""
    values = ",".join(f"{k}={v}" for k, v in params.items())
    cmd = [KEDRO, "iterate", "--env", "test", "--params", values]
    environ = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tracking}"
    return subprocess.run(
        cmd, check=False, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=1200
    )


def _files(folder: Path) -> dict[str, int]:
    """Every file under `folder`, relative, with its modification time in nanoseconds."""
    files = (p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in files}


def _lifecycle_accounting(data: Path) -> dict:
    accounting = _json(data / "08_reporting/row_accounting.json")
    return {k: v for k, v in accounting.items() if not k.startswith("inference")}


def _params(command: list[str]) -> dict[str, str]:
    values = command[command.index("--params") + 1].split(",")
    return dict(value.split("=", 1) for value in values)


def _artifact(client: MlflowClient, run_id: str, path: str) -> dict:
    return json.loads(Path(client.download_artifacts(run_id, path)).read_text())


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    """A store and data folder where `kedro run` made v1 the champion."""
    root = tmp_path_factory.mktemp("iterate")
    store, data = root / "mlflow.db", root / "data"
    result = kedro_run(params={"data_dir": str(data)}, tracking=store)
    assert result.returncode == 0, _output(result)
    client = MlflowClient(f"sqlite:///{store}")
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    return root, store, data


def test_the_training_data_against_itself_drifts_nowhere_and_nothing_retrains(lifecycle):
    root, store, data = lifecycle
    result = kedro_iterate({"data_dir": str(data)}, tracking=store)
    assert result.returncode == 0, _output(result)
    report = _json(data / "08_reporting/monitoring/drift.json")
    assert report["model"]["version"] == "1"
    assert report["over"] == {}
    # Every feature of the model and its prediction, with all their numbers, over or not.
    assert len(report["columns"]) == 23 and "prediction" in report["columns"]
    # The batch is the raw slice (3,368 rows), the reference its 3,274 cleaned, validated rows:
    # numeric PSIs stay under 0.001; the JS distance of the widest categorical (dest, ~90 values)
    # is ~0.02 from those 94 rows alone.
    for name, column in report["columns"].items():
        if column["kind"] == "numeric":
            assert column["psi"] < 0.01, (name, column)
        else:
            assert column["js"] < 0.05 and column["linf"] < 0.02, (name, column)
    decision = _json(data / "08_reporting/iterate/decision.json")
    assert decision["retrain"] is False and decision["reasons"] == []
    outcome = _json(data / "08_reporting/iterate/outcome.json")
    assert outcome == {"retrained": False, "reasons": []}
    # Nothing retrained, so no retraining data folder either.
    assert not (data / "iterate").exists()
    assert (data / "08_reporting/monitoring/drift.png").stat().st_size > 10_000
    client = MlflowClient(f"sqlite:///{store}")
    run = client.search_runs(["1"], "tags.pipeline = 'iterate'")[0]
    assert _artifact(client, run.info.run_id, "iterate/outcome.json") == outcome
    assert run.data.metrics["drift.columns.distance.psi"] == report["columns"]["distance"]["psi"]
    # What the batch lost before scoring is counted beside the drift, and adds up.
    quarantine = report["quarantine"]
    assert quarantine["in"] == 3368 == quarantine["scored"] + quarantine["quarantined"]
    assert run.data.metrics["drift.quarantine.share"] == quarantine["share"]
    assert "monitoring/drift.json" in {
        a.path for a in client.list_artifacts(run.info.run_id, "monitoring")
    }
    assert "No retraining needed" in result.stderr + result.stdout or "no retraining" in (
        result.stderr + result.stdout
    )


def test_a_drifted_batch_flags_its_columns_and_retrains_through_the_gate(spark, lifecycle):
    root, store, data = lifecycle
    batch = root / "drifted"
    shift = {"carrier": {"value": "ZZ", "rate": 0.3}, "distance": {"scale": 1.6}}
    params = {**PARAMS, "rows": 6_000, "faults": {}, "shift": shift}
    synthesize_rows(_sources(SLICE), params).write.options(
        header="true", quote="", escapeQuotes="false"
    ).csv(str(batch))

    # The lifecycle's reports, accounting and model input, which the retraining must not touch.
    kept = {
        name: (data / name).read_bytes()
        for name in (
            "08_reporting/evaluation/metrics.json",
            "08_reporting/registry/gate_decision.json",
            "08_reporting/data_quality/summary.json",
            "04_feature/feature_statistics.json",
        )
    }
    shards = _files(data / "05_model_input")
    # The iterate run's own inference adds its sections; the lifecycle's stay as they were.
    accounting = _lifecycle_accounting(data)
    result = kedro_iterate({"data_dir": str(data), "inference_batch_path": str(batch)}, store)
    assert result.returncode == 0, _output(result)
    report = _json(data / "08_reporting/monitoring/drift.json")
    features = set(report["over"]) - {"prediction"}
    assert features == DRIFTED, report["over"]
    assert report["columns"]["carrier"]["unseen_values"] == ["ZZ"]
    # The unseen carrier is scored (out of vocabulary), not quarantined.
    predictions = spark.read.parquet(str(data / "07_model_output/predictions.parquet"))
    zz = predictions.filter(F.col("carrier") == "ZZ")
    assert zz.count() > 1_000 and zz.filter(F.col("prediction").isNull()).count() == 0

    decision = _json(data / "08_reporting/iterate/decision.json")
    assert decision["retrain"] is True
    assert {r.split(" ")[1] for r in decision["reasons"] if r.startswith("drift")} >= DRIFTED
    # The decision says what to start: the entry point parses no config of its own.
    assert decision["retraining"]["window"] == {"flights_path": str(batch)}
    assert decision["retraining"]["data_dir"] == f"{data}/iterate"
    outcome = _json(data / "08_reporting/iterate/outcome.json")
    assert outcome["retrained"] is True and outcome["returncode"] == 0
    assert outcome["window"] == {"flights_path": str(batch)}
    client = MlflowClient(f"sqlite:///{store}")
    child = client.get_run(outcome["run_id"])
    parent = client.search_runs(["1"], "tags.pipeline = 'iterate'", order_by=["start_time DESC"])[0]
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert _artifact(client, parent.info.run_id, "iterate/outcome.json") == outcome
    # The retraining wrote a data folder of its own, named after the iterate run; the
    # lifecycle's reports, accounting and model-input shards are as the lifecycle left them.
    retrained = Path(outcome["data_dir"])
    assert retrained == data / "iterate" / parent.info.run_id
    assert _params(outcome["command"])["data_dir"] == str(retrained)
    assert {name: (data / name).read_bytes() for name in kept} == kept
    assert _files(data / "05_model_input") == shards
    assert _lifecycle_accounting(data) == accounting
    assert set(accounting) >= {"ingestion", "cleaning", "data_quality", "features"}
    # The retraining kept the new carrier's rows (the suite reports it, a warning) and learned
    # it: the drift that started the run is in the new model's vocabulary.
    quality = _json(retrained / "08_reporting/data_quality/summary.json")
    assert "known_carrier" in quality["failed"] and quality["passed_gate"] is True
    statistics = _json(retrained / "04_feature/feature_statistics.json")
    assert "ZZ" in statistics["categorical"]["carrier"]["vocabulary"]
    assert (retrained / "08_reporting/evaluation/metrics.json").is_file()
    # The gate judged v2 like any other candidate; the champion moved only if it passed.
    gate = _json(retrained / "08_reporting/registry/gate_decision.json")
    assert gate["version"] == "2"
    assert outcome["registry_outcome"] == child.data.tags["registry.outcome"]
    champion = str(client.get_model_version_by_alias(MODEL, "champion").version)
    assert champion == ("2" if gate["passed"] else "1")
