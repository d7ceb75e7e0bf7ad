"""Run a command and measure its wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measurement:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output_tail: str


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(
    cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> Measurement:
    """Runs `cmd`, sampling the RSS of it and all its children (Python and the JVM) every 0.1 s."""
    peak = 0
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
            peak = max(peak, _tree_rss(handle))
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    reader.join(timeout=5)
    return Measurement(seconds, peak / 2**20, proc.returncode, "".join(lines[-40:]))
