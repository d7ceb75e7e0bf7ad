"""Serving smoke test: `make serve`'s command serves the champion; raw rows in, scores out."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.champion import register_champion, tiny_model

ROOT = Path(__file__).parents[1]
NAME = "flight_delay_serving"
RECORDS = [
    {"distance": 1000.0, "temp": 50.0, "carrier": "UA", "sched_dep_hour": 7},
    {"distance": None, "temp": 61.5, "carrier": "B6", "sched_dep_hour": 17},  # a null
    {"distance": 2475.0, "temp": None, "carrier": "ZZ", "sched_dep_hour": 3},  # unseen values
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_command(port: int, tracking_uri: str) -> str:
    """Returns the command `make serve` runs, as make prints it (nothing is installed)."""
    printed = subprocess.run(
        ["make", "-n", "serve", f"SERVE_PORT={port}", f"MODEL_NAME={NAME}",
         f"MLFLOW_TRACKING_URI={tracking_uri}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = [line for line in printed.splitlines() if "mlflow models serve" in line]
    assert len(lines) == 1, printed
    assert f'-m "models:/{NAME}@champion" --env-manager local --host 127.0.0.1' in lines[0]
    return lines[0]


def _get(url: str, timeout: float = 5) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - localhost
        return response.status


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if _get(url) == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"the server did not answer /ping in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def test_the_served_champion_scores_raw_rows_like_the_pyfunc(mlflow_store, tmp_path):
    version, _ = register_champion(NAME, tiny_model(seed=2))
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        # Its own session: the server and its uvicorn worker are stopped together.
        server = subprocess.Popen(
            ["bash", "-c", _serve_command(port, mlflow_store)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_ready(server, f"http://127.0.0.1:{port}/ping", log)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"dataframe_records": RECORDS}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - localhost
            assert response.status == 200
            body = json.loads(response.read())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)

    served = [row["prediction"] for row in body["predictions"]]
    assert len(served) == len(RECORDS)
    assert all(0.0 < p < 1.0 for p in served)
    # The signature declares integer categories as double: pandas needs them as floats.
    rows = pd.DataFrame(RECORDS).astype({"sched_dep_hour": "float64"})
    local = mlflow.pyfunc.load_model(f"models:/{NAME}/{version}").predict(rows)
    assert served == pytest.approx(local.tolist(), abs=1e-6)
    assert len(set(served)) == len(RECORDS)  # three different rows, three different scores
