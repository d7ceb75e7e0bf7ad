"""Run a command and measure its wall time and the peak RSS of its whole process tree.

Besides the tree's peak, the peaks of its parts are kept apart: the root process (the Python
driver of `kedro run` or of a script), its JVM children (Spark's driver JVM in local mode) and
anything else (Python workers, shells). `LoadSampler` samples the load average while a run
lasts and `machine` describes the machine, so a figure says how busy its machine was.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 2**20
ROOT = Path(__file__).parents[1]


def kedro_env(store: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's `kedro run`: this tree's code, quiet, its own store."""
    return {
        # Without bytecode caching every process would compile TF, MLflow and Spark anew.
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "GX_ANALYTICS_ENABLED": "false",
        # This tree's code, also when it is a copy (e.g. a `git archive` of a commit) and the
        # venv's editable install points at another checkout.
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
        ),
        # The benchmark's runs go to their own store; the project's mlflow.db stays untouched.
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        **extra,
    }


@dataclass
class Measurement:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output_tail: str
    # Peaks of the parts, each taken on its own (they need not coincide with the tree's peak).
    peak_rss_root_mb: float = 0.0
    peak_rss_jvm_mb: float = 0.0
    peak_rss_other_mb: float = 0.0
    # User + system CPU seconds of the tree (sampled, so a lower bound by the last 0.1 s of each
    # process): the work done, whatever else loads the machine.
    cpu_seconds: float = 0.0
    # Set when the run was stopped by `rss_limit_mb` or `timeout_s` (returncode is then -9).
    killed: str = ""


def _is_jvm(p: psutil.Process) -> bool:
    try:
        return p.name() == "java" or p.exe().endswith("/java")
    except psutil.Error:
        return False


def _cpu(p: psutil.Process, cpu: dict[int, float] | None) -> None:
    if cpu is not None:
        times = p.cpu_times()
        cpu[p.pid] = max(cpu.get(p.pid, 0.0), times.user + times.system)


def _rss_parts(proc: psutil.Process, cpu: dict[int, float] | None = None) -> tuple[int, int, int]:
    """Returns the RSS (bytes) of the root process, of its JVM descendants and of the rest.

    With `cpu`, also records each process's CPU seconds so far in it (by pid)."""
    root = jvm = other = 0
    try:
        root = proc.memory_info().rss
        _cpu(proc, cpu)
    except psutil.Error:
        pass
    for p in proc.children(recursive=True):
        try:
            rss = p.memory_info().rss
            _cpu(p, cpu)
        except psutil.Error:
            continue
        if _is_jvm(p):
            jvm += rss
        else:
            other += rss
    return root, jvm, other


def _tree_rss(proc: psutil.Process) -> int:
    return sum(_rss_parts(proc))


def measure(
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    rss_limit_mb: float | None = None,
    timeout_s: float | None = None,
) -> Measurement:
    """Runs `cmd`, sampling the RSS of it and all its children (Python and the JVM) every 0.1 s.

    With `rss_limit_mb`, a tree that grows past it is killed (instead of the machine swapping or
    the OOM killer choosing a victim); with `timeout_s`, so is a run that lasts longer.
    """
    peak = peak_root = peak_jvm = peak_other = 0
    killed = ""
    cpu: dict[int, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    handle = psutil.Process(proc.pid)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            root, jvm, other = _rss_parts(handle, cpu)
        except psutil.Error:
            root = jvm = other = 0
        peak = max(peak, root + jvm + other)
        peak_root, peak_jvm = max(peak_root, root), max(peak_jvm, jvm)
        peak_other = max(peak_other, other)
        if rss_limit_mb is not None and (root + jvm + other) / MB > rss_limit_mb:
            killed = f"peak RSS over the {rss_limit_mb:,.0f} MB limit"
        elif timeout_s is not None and time.perf_counter() - start > timeout_s:
            killed = f"over the {timeout_s:,.0f} s time limit"
        if killed:
            _kill_tree(handle)
            proc.wait()
            break
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    reader.join(timeout=5)
    return Measurement(
        seconds,
        peak / MB,
        proc.returncode,
        "".join(lines[-40:]),
        peak_rss_root_mb=peak_root / MB,
        peak_rss_jvm_mb=peak_jvm / MB,
        peak_rss_other_mb=peak_other / MB,
        cpu_seconds=sum(cpu.values()),
        killed=killed,
    )


def _kill_tree(proc: psutil.Process) -> None:
    try:
        victims = [*proc.children(recursive=True), proc]
    except psutil.Error:
        victims = [proc]
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass


class LoadSampler:
    """Samples the 1-minute load average every few seconds while a measured run lasts."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s, self.samples = every_s, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        return {
            "before": round(self.samples[0], 2),
            "after": round(self.samples[-1], 2),
            "mean": round(sum(self.samples) / len(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


def machine(root: Path) -> dict:
    """Returns the machine a benchmark ran on: platform, cores, memory, free disk, Python."""
    mem = psutil.virtual_memory()
    return {
        "platform": f"{platform.system()} {platform.machine()}",
        "cores": psutil.cpu_count(),
        "ram_gib": round(mem.total / 2**30, 1),
        "available_gib_at_start": round(mem.available / 2**30, 1),
        "disk_free_gib_at_start": round(shutil.disk_usage(root).free / 2**30, 1),
        "python": platform.python_version(),
    }


def event_log_args(directory: Path) -> dict[str, str]:
    """Environment that makes a PySpark process write Spark's event log under `directory`.

    Passed to spark-submit through PYSPARK_SUBMIT_ARGS, so the measured program (the project's
    Spark hook, a reference script) keeps its own configuration untouched.
    """
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "PYSPARK_SUBMIT_ARGS": (
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir={directory.as_uri()} "
            "--conf spark.eventLog.compress=false pyspark-shell"
        )
    }


def spark_jobs(directory: Path) -> dict:
    """Returns the Spark jobs of the event logs under `directory`: count, summed seconds, top sites.

    A job is what one action costs (a write, a count, a collect, a broadcast); the call site is
    the line of the program that started it.
    """
    starts: dict[tuple[str, int], tuple[int, str]] = {}
    seconds: dict[str, float] = {}
    jobs: dict[str, int] = {}
    for log in sorted(p for p in directory.rglob("*") if p.is_file()):
        with log.open() as handle:
            for line in handle:
                if '"SparkListenerJob' not in line[:40]:
                    continue
                event = json.loads(line)
                key = (log.name, event["Job ID"])
                if event["Event"] == "SparkListenerJobStart":
                    site = (event.get("Properties") or {}).get("callSite.short", "?")
                    starts[key] = (event["Submission Time"], site)
                elif key in starts:
                    began, site = starts[key]
                    jobs[site] = jobs.get(site, 0) + 1
                    took = (event["Completion Time"] - began) / 1e3
                    seconds[site] = seconds.get(site, 0.0) + took
    top = sorted(seconds, key=seconds.get, reverse=True)
    return {
        "jobs": sum(jobs.values()),
        "job_seconds": round(sum(seconds.values()), 1),
        "by_call_site": [
            {"site": s, "jobs": jobs[s], "seconds": round(seconds[s], 1)} for s in top[:15]
        ],
    }
