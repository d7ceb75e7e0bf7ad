"""Test helpers: a Spark standalone master + worker, or a Spark Connect server, on 127.0.0.1.

Started with pyspark's own launchers (the pip package ships `bin/spark-class` and
`bin/spark-submit`, not `sbin/start-master.sh`), each in its own process group so that stopping
kills the JVM and everything it forked (executors, Python workers).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyspark
from pyspark.sql.connect.utils import check_dependencies

SPARK_HOME = Path(pyspark.__file__).parent
LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))
SLICE = ROOT / "data/01_raw/nycflights13_slice"
RUN_TIMEOUT = 540


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def spark_env(work_dir: Path) -> dict[str, str]:
    """The environment of a Spark daemon: loopback only, this interpreter for Python workers."""
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": LOOPBACK,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(work_dir),
        "SPARK_WORKER_DIR": str(work_dir / "worker"),
        # The master's REST submission server listens on a fixed port (6066) otherwise.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        "SPARK_NO_DAEMONIZE": "1",
    }


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """Starts a daemon in a new process group, stdout and stderr to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own fixed command line
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def stop(proc: subprocess.Popen | None) -> None:
    """Kills a daemon's whole process group: SIGTERM, then SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def master_state(webui_port: int) -> dict:
    """The master's JSON status page (workers, active and completed applications)."""
    url = f"http://{LOOPBACK}:{webui_port}/json/"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
        return json.loads(response.read())


def wait_for(check, timeout: float, what: str, procs: list[subprocess.Popen], logs: list[Path]):
    """Polls `check()` until it returns a truthy value; fails with the daemons' logs if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: {proc.args[-1]!r} exited: {log.read_text()[-3000:]}")
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(1)
    tails = "\n".join(log.read_text()[-2000:] for log in logs)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s:\n{tails}")


@dataclass
class Standalone:
    url: str
    webui_port: int
    logs: list[Path]

    def state(self) -> dict:
        return master_state(self.webui_port)


@contextmanager
def standalone_cluster(work_dir: Path, timeout: float = 120) -> Iterator[Standalone]:
    """A master and one worker (1 core, 2 GB) on 127.0.0.1, stopped on exit whatever happened."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = spark_env(work_dir)
    spark_class = str(SPARK_HOME / "bin/spark-class")
    port, webui, worker_webui = free_port(), free_port(), free_port()
    url = f"spark://{LOOPBACK}:{port}"
    logs = [work_dir / "master.log", work_dir / "worker.log"]
    master = worker = None
    try:
        master = start(
            [spark_class, "org.apache.spark.deploy.master.Master"]
            + ["--host", LOOPBACK, "--port", str(port), "--webui-port", str(webui)],
            logs[0],
            env,
        )
        wait_for(
            lambda: master_state(webui).get("status") == "ALIVE",
            timeout,
            "Spark master",
            [master],
            logs[:1],
        )
        worker = start(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url]
            + ["--host", LOOPBACK, "--cores", "1", "--memory", "2g"]
            + ["--webui-port", str(worker_webui), "--work-dir", str(work_dir / "worker")],
            logs[1],
            env,
        )
        wait_for(
            lambda: any(w["state"] == "ALIVE" for w in master_state(webui)["workers"]),
            timeout,
            "Spark worker registration",
            [master, worker],
            logs,
        )
        yield Standalone(url=url, webui_port=webui, logs=logs)
    finally:
        stop(worker)
        stop(master)


def connect_client_missing() -> str | None:
    """Names the Spark Connect client packages this interpreter lacks (None: all there)."""
    try:
        check_dependencies("ml_lifecycle")
    except ImportError as error:
        return str(error)
    return None


@contextmanager
def connect_server(work_dir: Path, timeout: float = 180) -> Iterator[str]:
    """A Spark Connect server (local[2] behind it) on 127.0.0.1; yields its sc:// URL.

    pyspark's pip package has no sbin/start-connect-server.sh; that script only runs
    `spark-submit --class org.apache.spark.sql.connect.service.SparkConnectServer`, and the
    server's jar (jars/spark-connect_*.jar) is in the package.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = work_dir / "connect-server.log"
    conf = {
        "spark.connect.grpc.binding.address": LOOPBACK,
        "spark.connect.grpc.binding.port": port,
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": 2,
        "spark.sql.session.timeZone": "UTC",
    }
    cmd = [str(SPARK_HOME / "bin/spark-submit"), "--master", "local[2]", "--driver-memory", "2g"]
    cmd += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    cmd += ["--name", "ml-lifecycle-connect-server"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    server = start(cmd, log, spark_env(work_dir))
    try:

        def listening() -> bool:
            with socket.create_connection((LOOPBACK, port), timeout=2):
                return "start GRPC service" in log.read_text()

        wait_for(listening, timeout, "Spark Connect server", [server], [log])
        yield f"sc://{LOOPBACK}:{port}"
    finally:
        stop(server)


# ---------------------------------------------------------------- kedro runs against them
def start_run(env: str, pipelines: str, data_dir: Path, params: dict[str, str]) -> subprocess.Popen:
    """Starts `kedro run --env <env>` on the test slice; log in <data_dir>/run.log."""
    data_dir.mkdir(parents=True, exist_ok=True)
    params = {"data_dir": str(data_dir), **params}
    cmd = [KEDRO, "run", "--env", env, "--pipelines", pipelines]
    cmd += ["--params", ",".join(f"{k}={v}" for k, v in params.items())]
    environ = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "250",
        "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow.db'}",
    }
    with (data_dir / "run.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own fixed command line
            cmd, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT
        )


def finish(proc: subprocess.Popen, data_dir: Path) -> str:
    """Waits for a run (killed after RUN_TIMEOUT s), asserts it succeeded; returns its log."""
    try:
        proc.wait(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (data_dir / "run.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-4000:]
    return log


def without_timestamps(report: dict) -> dict:
    """Row accounting without the time each stage recorded it."""
    return {
        stage: {k: v for k, v in counts.items() if k != "recorded_at"}
        for stage, counts in report.items()
    }
