"""Shared fixtures: one small SparkSession for the whole test session, and raw-file helpers."""

from __future__ import annotations

import fcntl
import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

import mlflow
import pytest
from pyspark.sql import SparkSession

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
# Python workers (model scoring UDFs) run this interpreter, which has pandas and mlflow.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
# Nothing a test runs may write to the project's mlflow.db (or a server the shell points at):
# every MLflow run of the session, in-process or `kedro run`, goes to a temporary store.
_SESSION_STORE = Path(tempfile.mkdtemp(prefix="ml-lifecycle-mlflow-"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_STORE / 'mlflow.db'}"


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh tracking store and registry in tmp_path (artifacts too), active for this test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("tests", artifact_location=(tmp_path / "mlruns").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    session_uri = f"sqlite:///{_SESSION_STORE / 'mlflow.db'}"
    mlflow.set_tracking_uri(session_uri)
    mlflow.set_registry_uri(session_uri)


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("ml-lifecycle-tests")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.constraintPropagation.enabled", "false")  # as conf/base/spark.yml
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.structuredLogging.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def write_raw(tmp_path: Path):
    """Writes raw bytes or text to tmp_path/name (gzipped when the name ends in .gz)."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data)
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture(scope="session")
def lifecycle_snapshot(tmp_path_factory) -> Path:
    """The default `kedro run` on the test slice: <root>/data and <root>/mlflow.db (v1 champion).

    Made once per test session, across pytest-xdist's workers too (a file lock in the folder
    they share), and never written to afterwards: a test takes its own copy (copy_lifecycle).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "lifecycle"
    with (shared / "lifecycle.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").is_file():
            shutil.rmtree(root, ignore_errors=True)
            from tests.test_run import kedro_run  # noqa: PLC0415 - e2e tests only

            result = kedro_run(params={"data_dir": str(root / "data")}, tracking=root / "mlflow.db")
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            (root / "done").touch()
    return root
