"""Faults: `kill -9` mid-write, reruns, `--from-nodes`, two concurrent runs on one sqlite store.

`make check-faults` (pytest -m faults; `-o log_cli=true --log-cli-level=INFO` shows when each
kill landed). Every run is `kedro run --env test` in its own process group, data_dir and tracking
store. The kill lands while a stage output is being written: the
test watches for Spark's `_temporary` folder of that output and then SIGKILLs the whole group
(Python driver, JVM, Python workers), and asserts afterwards that the write really was cut off.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

ROOT = Path(__file__).parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))

pytestmark = pytest.mark.faults
logger = logging.getLogger(__name__)

PIPELINES = "ingestion,cleaning"
# What the kill interrupts: the write of primary_table (node `clean`), KILL_AFTER_S seconds after
# Spark starts writing its part files; --from-nodes resumes at that node.
KILL_DURING = "03_primary/table.parquet"
KILL_AFTER_S = 0.0
RESUME_FROM = "clean"
KILL_DEADLINE_S = 500
# FAULTS_REPEAT=5 make check-faults: each kill test five times (against one uninterrupted run).
REPEAT = int(os.environ.get("FAULTS_REPEAT", "1"))
SPARK_OUTPUTS = [
    "02_intermediate/table.parquet",
    "02_intermediate/quarantine/ingestion.parquet",
    "03_primary/table.parquet",
    "03_primary/quarantine/cleaning.parquet",
]
JSON_OUTPUTS = ["03_primary/cleaning_statistics.json", "08_reporting/row_accounting.json"]


def kedro_command(data_dir: Path, *args: str, pipelines: str = PIPELINES) -> list[str]:
    return [
        KEDRO, "run", "--env", "test", "--pipelines", pipelines,
        "--params", f"data_dir={data_dir}", *args,
    ]  # fmt: skip


def environment(store: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "200",
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
    }


def kedro_run(data_dir: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        kedro_command(data_dir, *args),
        check=False,
        cwd=ROOT,
        env=environment(store),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def writing(target: Path) -> Path | None:
    """The folder Spark is writing `target`'s part files into right now, if any."""
    candidates = [target, *target.parent.glob(f".{target.name}.tmp-*")]
    for folder in candidates:
        if (folder / "_temporary").is_dir() and not (folder / "_SUCCESS").exists():
            return folder
    return None


def group_gone(pgid: int, within_s: float = 30) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def run_and_kill_mid_write(data_dir: Path, store: Path, log: Path) -> Path:
    """Starts the run, SIGKILLs its process group while KILL_DURING is written; returns the
    folder that was being written when the kill landed."""
    target = data_dir / KILL_DURING
    with log.open("w") as output:
        process = subprocess.Popen(
            kedro_command(data_dir),
            cwd=ROOT,
            env=environment(store),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Python, JVM and workers
        )
        deadline = time.monotonic() + KILL_DEADLINE_S
        folder = None
        while folder is None and process.poll() is None and time.monotonic() < deadline:
            folder = writing(target)
            time.sleep(0.005)
        if folder is not None and KILL_AFTER_S:
            time.sleep(KILL_AFTER_S)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert group_gone(process.pid), "processes of the killed run survived SIGKILL"
    assert folder is not None, (
        f"the run ended (rc {process.returncode}) or timed out before writing {KILL_DURING}: "
        + log.read_text()[-3000:]
    )
    # The kill landed mid-write: Spark had not committed the folder (no _SUCCESS), let alone
    # published it, and the target holds no partial data.
    assert folder.is_dir() and not (folder / "_SUCCESS").exists(), (
        f"the kill landed after the write of {KILL_DURING} completed: lower KILL_AFTER_S"
    )
    return folder


def assert_no_partial_dataset(data_dir: Path) -> None:
    for relative in SPARK_OUTPUTS:
        path = data_dir / relative
        assert not path.exists() or (path / "_SUCCESS").is_file(), f"partial dataset {path}"
    for relative in JSON_OUTPUTS:
        path = data_dir / relative
        if path.exists():
            json.loads(path.read_text())  # complete JSON, never truncated


def leftovers(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]


def comparable_json(path: Path) -> object:
    data = json.loads(path.read_text())
    if path.name == "row_accounting.json":
        for section in data.values():
            section.pop("recorded_at", None)
    return data


def assert_same_outputs(spark, actual_dir: Path, expected: dict) -> None:
    for relative in SPARK_OUTPUTS:
        path = actual_dir / relative
        assert (path / "_SUCCESS").is_file(), path
        frame = spark.read.parquet(str(path))
        reference = spark.createDataFrame(expected[relative], frame.schema)
        assert frame.count() == reference.count(), relative
        assert frame.exceptAll(reference).count() == 0, relative
        assert reference.exceptAll(frame).count() == 0, relative
    for relative in JSON_OUTPUTS:
        assert comparable_json(actual_dir / relative) == expected[relative], relative


def snapshot(spark, data_dir: Path) -> dict:
    """Every output's content, held in memory (the folder is reused by later runs)."""
    content: dict = {}
    for relative in SPARK_OUTPUTS:
        content[relative] = spark.read.parquet(str(data_dir / relative)).collect()
    for relative in JSON_OUTPUTS:
        content[relative] = comparable_json(data_dir / relative)
    return content


@pytest.fixture(scope="module")
def uninterrupted(spark, tmp_path_factory) -> tuple[Path, dict]:
    """One uninterrupted run: its data_dir and its outputs' content."""
    base = tmp_path_factory.mktemp("uninterrupted")
    kedro_run(base / "data", base / "mlflow.db")
    return base / "data", snapshot(spark, base / "data")


@pytest.mark.parametrize("attempt", range(REPEAT))
@pytest.mark.parametrize("resume", ["rerun", "from-nodes"])
def test_kill_9_mid_write_leaves_no_partial_dataset_and_resuming_equals_an_uninterrupted_run(
    spark, tmp_path, uninterrupted, resume, attempt
):
    data_dir, store = tmp_path / "data", tmp_path / "mlflow.db"
    started = time.monotonic()
    folder = run_and_kill_mid_write(data_dir, store, tmp_path / "killed.log")
    elapsed = time.monotonic() - started
    logger.info("killed %.1f s into the run, while Spark wrote %s", elapsed, folder)

    assert_no_partial_dataset(data_dir)
    assert folder in leftovers(data_dir)  # the interrupted write stayed beside the target
    assert not (data_dir / KILL_DURING).exists()  # first run into this data_dir: nothing yet
    if resume == "rerun":
        kedro_run(data_dir, store)
    else:
        # Everything upstream of the interrupted node is complete; resume from that node.
        assert (data_dir / "02_intermediate/table.parquet/_SUCCESS").is_file()
        result = kedro_run(data_dir, store, "--from-nodes", RESUME_FROM)
        assert "Running node: ingest" not in result.stdout + result.stderr
    assert leftovers(data_dir) == []  # the killed run's temporary folder was cleaned
    assert_same_outputs(spark, data_dir, uninterrupted[1])


def test_rerunning_a_finished_pipeline_is_idempotent(spark, uninterrupted):
    data_dir, expected = uninterrupted
    kedro_run(data_dir, data_dir.parent / "mlflow.db")
    assert leftovers(data_dir) == []
    assert_same_outputs(spark, data_dir, expected)


def test_two_concurrent_runs_on_one_sqlite_store_both_record_their_runs(tmp_path):
    """Both start together on a fresh mlflow.db (its tables and experiment not yet created)."""
    store = tmp_path / "mlflow.db"
    results: dict[int, subprocess.CompletedProcess] = {}

    def run(index: int) -> None:
        results[index] = subprocess.run(
            kedro_command(tmp_path / f"data{index}", pipelines="ingestion"),
            check=False,
            cwd=ROOT,
            env=environment(store),
            capture_output=True,
            text=True,
            timeout=900,
        )

    threads = [threading.Thread(target=run, args=(index,)) for index in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for result in results.values():
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("ml-lifecycle")
    runs = client.search_runs([experiment.experiment_id])
    assert [run.info.status for run in runs] == ["FINISHED", "FINISHED"]
    assert {run.data.tags["pipeline"] for run in runs} == {"ingestion"}
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
