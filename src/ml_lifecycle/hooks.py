"""Project hooks: the run's SparkSession (conf/<env>/spark.yml) and what its MLflow run records."""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node
from mlflow import MlflowClient
from mlflow.entities import Metric
from pyspark import SparkConf
from pyspark.sql import SparkSession

from ml_lifecycle.core.errors import JavaNotFoundError

logger = logging.getLogger(__name__)


def _spark_conf(settings: dict) -> dict[str, str]:
    conf = {}
    for key, value in settings.items():
        conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return conf


def require_java() -> None:
    """Raises JavaNotFoundError, in one sentence, when neither JAVA_HOME nor PATH has a java."""
    home = os.environ.get("JAVA_HOME")
    if (home and (Path(home) / "bin" / "java").exists()) or shutil.which("java"):
        return
    raise JavaNotFoundError(
        "Spark needs Java 17 or later and none was found (no JAVA_HOME, no java on PATH): "
        "install a JDK (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
    )


class SparkHooks:
    """Creates the SparkSession before any dataset or node needs it."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Builds the session from the `spark` config (`spark.remote` selects Spark Connect)."""
        settings = _spark_conf(context.config_loader["spark"])
        remote = settings.pop("spark.remote", None)
        # Bind the local driver to loopback, whatever the host name resolves to.
        os.environ.setdefault(
            "SPARK_LOCAL_IP", settings.get("spark.driver.bindAddress", "127.0.0.1")
        )
        # Python workers (model scoring UDFs) run this interpreter, whatever python3 is on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder
        if remote:
            # A Connect client takes no master; datasets that call getOrCreate() find the server
            # through SPARK_REMOTE.
            settings.pop("spark.master", None)
            os.environ["SPARK_REMOTE"] = remote
            builder = builder.remote(remote)
            for key, value in settings.items():
                builder = builder.config(key, value)
        else:
            require_java()
            builder = builder.config(conf=SparkConf().setAll(list(settings.items())))
        spark = builder.getOrCreate()
        if not remote:
            spark.sparkContext.setLogLevel(settings.get("spark.log.level", "WARN"))
        logger.info(
            "SparkSession %s on %s (shuffle partitions %s)",
            spark.version,
            remote or settings.get("spark.master", "local[*]"),
            spark.conf.get("spark.sql.shuffle.partitions"),
        )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: object, node: Node) -> None:
        """Frees what a node cached once its last output is written: nodes pass data via files."""
        spark = SparkSession.getActiveSession()
        if spark is not None and node.outputs and dataset_name == node.outputs[-1]:
            spark.catalog.clearCache()


def _flat_numbers(data: Any, prefix: str) -> dict[str, float]:
    """Returns the finite numeric leaves of nested dicts as {prefix.key.sub: value}."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flat_numbers(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, bool):
        out[prefix] = float(data)
    elif isinstance(data, int | float) and math.isfinite(data):
        out[prefix] = float(data)
    return out


def _metric_key(key: str) -> str:
    # MLflow keys take letters, digits, _ - . / and spaces; slice values may hold anything else.
    return re.sub(r"[^\w\-./ ]", "_", key)


def _local_path(dataset: Any) -> Path | None:
    # The project's datasets say where their saved artifact is, copied locally when it lives on
    # object storage; kedro-datasets' own (text, matplotlib) are read as they store it.
    local_artifact = getattr(dataset, "local_artifact", None)
    if callable(local_artifact):
        return local_artifact()
    for attr in ("_get_save_path", "_get_load_path"):
        try:
            return Path(str(getattr(dataset, attr)()))
        except Exception:  # noqa: BLE001, S112 - not every dataset is versionable
            continue
    for attr in ("_filepath", "_path"):
        if getattr(dataset, attr, None):
            return Path(str(getattr(dataset, attr)))
    return None


# A run started by another run (iterate's retraining) names its parent here: its MLflow run
# becomes a child of the parent's (the `mlflow.parentRunId` tag nests it in the UI).
PARENT_RUN_ENV = "ML_LIFECYCLE_PARENT_RUN_ID"


class MlflowRunHooks:
    """What each MLflow run records beyond kedro-mlflow's parameters, and how it ends.

    - Tags: git commit (and whether the tree was dirty), Kedro env, pipeline names.
    - Catalog entries declare what is logged when they are saved, in their metadata:
      ``metadata: {mlflow: {artifact: <folder in the run>}}`` logs the file or folder;
      ``{metrics: <prefix>, keys: [...]}`` logs its numeric leaves as metrics;
      ``{history: <prefix>}`` logs ``history: {name: [per-epoch values]}`` as metric history;
      ``{tags: true}`` adds one tag ``<prefix> = "in=… kept=… quarantined=…"`` (row counts).
    - A failed run records the failing node and its error before kedro-mlflow marks it FAILED.
    """

    def __init__(self) -> None:
        self._catalog: Any = None
        self._run_id: str | None = None
        self._failed_node: str | None = None
        self._started: dict[str, float] = {}

    @hook_impl
    def after_context_created(self) -> None:
        """Keeps MLflow's per-file download bars out of the run's log."""
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        """Keeps the catalog to read each saved dataset's metadata."""
        self._catalog = catalog

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Tags the run kedro-mlflow just started."""
        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        self._failed_node = None
        if self._run_id is None:
            return
        commit, dirty = _git_state(Path(run_params.get("project_path") or Path.cwd()))
        tags = {
            "kedro_env": run_params.get("env") or "local",
            "pipeline": "+".join(run_params.get("pipeline_names") or ["__default__"]),
        }
        if commit:
            tags.update({"git_commit": commit, "git_dirty": str(dirty).lower()})
        if os.environ.get(PARENT_RUN_ENV):
            tags["mlflow.parentRunId"] = os.environ[PARENT_RUN_ENV]
        client = MlflowClient()
        for key, value in tags.items():
            client.set_tag(self._run_id, key, value)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Logs a saved dataset as its catalog metadata says (artifact, metrics, history)."""
        if self._run_id is None or self._catalog is None:
            return
        try:
            dataset = self._catalog.get(dataset_name)
        except Exception:  # noqa: BLE001 - memory datasets have no catalog entry
            return
        spec = ((getattr(dataset, "metadata", None) or {}).get("mlflow")) or {}
        if spec:
            _log_dataset(self._run_id, dataset, data, spec)

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        """Starts the node's clock."""
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """Logs how long the node took, and records it on the run (`seconds.<node>`)."""
        started = self._started.pop(node.name, None)
        if started is None:
            return
        seconds = time.perf_counter() - started
        logger.info("Node %s took %.1f s", node.name, seconds)
        if self._run_id is not None:
            MlflowClient().log_metric(self._run_id, _metric_key(f"seconds.{node.name}"), seconds)

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        """Remembers which node failed."""
        self._failed_node = node.name

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self, error: Exception) -> None:
        """Records the error on the run (kedro-mlflow then ends it FAILED)."""
        if self._run_id is None:
            return
        client = MlflowClient()
        message = f"{type(error).__name__}: {error}"
        client.set_tag(self._run_id, "error", message[:4000])
        if self._failed_node:
            client.set_tag(self._run_id, "error_node", self._failed_node)
        text = "".join(traceback.format_exception(error))
        client.log_text(self._run_id, text, "error/traceback.txt")
        logger.error("MLflow run %s marked FAILED: %s", self._run_id, message[:300])


def _git_state(path: Path) -> tuple[str | None, bool]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, False
    return commit, bool(status.strip())


def _log_dataset(run_id: str, dataset: Any, data: Any, spec: dict[str, Any]) -> None:
    client = MlflowClient()
    if spec.get("artifact") is not None:
        path = _local_path(dataset)
        if path is not None and path.is_dir():
            client.log_artifacts(run_id, str(path), spec["artifact"] or None)
        elif path is not None and path.exists():
            client.log_artifact(run_id, str(path), spec["artifact"] or None)
    if spec.get("metrics") and isinstance(data, dict):
        keys = spec.get("keys")
        selected = {k: v for k, v in data.items() if keys is None or k in keys}
        values = {_metric_key(k): v for k, v in _flat_numbers(selected, spec["metrics"]).items()}
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in values.items()]
        for start in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[start : start + 1000])
        if spec.get("tags"):
            # One readable tag per stage: "in=3368 kept=3274 quarantined=94".
            counts = " ".join(f"{k}={data[k]}" for k in ("in", "kept", "quarantined") if k in data)
            client.set_tag(run_id, spec["metrics"], counts)
    if spec.get("history") and isinstance(data, dict):
        now = int(time.time() * 1000)
        metrics = [
            Metric(_metric_key(f"{spec['history']}.{name}"), float(v), now, step)
            for name, series in (data.get("history") or {}).items()
            for step, v in enumerate(series)
            if math.isfinite(float(v))
        ]
        for start in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[start : start + 1000])
