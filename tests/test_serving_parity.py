"""One model, one answer: pyfunc, the REST server and Spark batch scoring agree on raw rows.

For each task a tiny champion is logged the way training logs one (package_model: the feature
statistics with the run's cleaning plan, fitted here in Spark by the cleaning stage itself). The
same raw rows -- nulls, unseen categories, values past the clip bounds, NaN, ±inf, a column left
out -- then go through (a) `mlflow.pyfunc.load_model(uri).predict`, (b) `make serve`'s
/invocations and (c) the batch path: the inference cleaning node with the champion's cleaning
statistics, then `score_batch` through the champion's `spark_udf`. Every row the batch path
scores must get the same answer from all three; the rows it sets aside (±inf) are served.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from mlflow import MlflowClient

from ml_lifecycle.datasets import ChampionDataset
from ml_lifecycle.datasets.mlflow_registry import CHAMPION, register
from ml_lifecycle.model import cleaning_plan, serving
from ml_lifecycle.pipelines.cleaning.nodes import clean, fit_cleaning_statistics
from ml_lifecycle.pipelines.cleaning.params import CleaningParams
from ml_lifecycle.pipelines.cleaning.plan import build_plan
from ml_lifecycle.pipelines.inference.nodes import champion_cleaning_statistics, score_batch
from ml_lifecycle.pipelines.training.nodes import package_model
from tests.champion import EXAMPLE, STATISTICS, multiclass_statistics, tiny_model

ROOT = Path(__file__).parents[1]

INF, NAN = float("inf"), float("nan")
FEATURES = ["distance", "temp", "carrier", "sched_dep_hour"]
SCHEMA = "id long, distance double, temp double, carrier string, sched_dep_hour int"
# What training's cleaning fits its statistics on: distance 500..2450, temp 20..88.5.
FIT_ROWS = [
    (i, 500.0 + 50 * i, 20.0 + 1.75 * i, ["UA", "B6", "EV", "DL"][i % 4], [6, 7, 8, 17][i % 3])
    for i in range(40)
]
# The cleaning of conf/base's shape on these columns: clip both numbers, impute all four (a
# constant category included, which a server without the cleaning sends to the unknown bucket).
CLEANING = {
    "target": None,
    "required": [],
    "types": {},
    "rules": {},
    "outliers": {
        "distance": {"method": "iqr", "k": 0.5, "action": "clip"},
        "temp": {"method": "zscore", "threshold": 1.5, "action": "clip"},
    },
    "dedupe": None,
    "impute": {
        "distance": "median",
        "temp": "mean",
        "carrier": {"strategy": "constant", "value": "DL"},
        "sched_dep_hour": "mode",
    },
    "fit_filter": None,
    "quantile_accuracy": 10000,
}
RAW = [
    (1, 1000.0, 50.0, "UA", 7),  # known values, inside the bounds
    (2, None, None, None, None),  # every feature missing: all four imputed
    (3, 2400.0, 80.0, "ZZ", 3),  # unseen carrier and hour
    (4, 99999.0, -80.0, "EV", 8),  # past both clip bounds
    (5, 10.0, 200.0, None, 17),  # under / over the bounds, no carrier
    (6, 700.0, NAN, "B6", None),  # NaN is missing
    (7, INF, 50.0, "UA", 7),  # +inf: batch cleaning quarantines it, serving scores it
    (8, 900.0, -INF, "DL", 6),  # -inf
]
ABSENT = "temp"  # the second request leaves this column out; the batch has it null


def regression_statistics() -> dict[str, Any]:
    """Returns STATISTICS for a regression task (minutes of delay)."""
    statistics = copy.deepcopy(STATISTICS)
    statistics.update(task="regression", class_names=None)
    statistics["label"] = {"rows": 100, "mean": 12.0, "std": 30.0}
    return statistics


TASKS = {
    "binary": STATISTICS,
    "multiclass": multiclass_statistics(),
    "regression": regression_statistics(),
}


def _log_champion(name: str, statistics: dict, cleaning_statistics: dict, seed: int) -> str:
    """Logs and registers a champion as training and the registry do; returns its pinned URI."""
    model = tiny_model(statistics, seed=seed)
    test = pads.dataset(pa.Table.from_pandas(EXAMPLE))
    packaged = package_model(model, test, statistics, cleaning_statistics, CLEANING)
    with mlflow.start_run() as run:
        info = serving.log_model(model, packaged["statistics"], packaged["input_example"])
        mlflow.log_dict(cleaning_statistics, "cleaning/cleaning_statistics.json")
    client = MlflowClient()
    version = register(client, info.model_uri, name, run.info.run_id)
    client.set_registered_model_alias(name, CHAMPION, version)
    return f"models:/{name}/{version}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _requests() -> list[pd.DataFrame]:
    """Returns the raw rows as served: every column, then without ABSENT (ids as the index)."""
    rows = pd.DataFrame(RAW, columns=["id", *FEATURES]).set_index("id")
    rows = rows.astype({"sched_dep_hour": "float64"})  # integer categories are declared double
    return [rows, rows.drop(columns=[ABSENT])]


def _start_server(name: str, tracking_uri: str, log: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    printed = subprocess.run(
        ["make", "-n", "serve", f"SERVE_PORT={port}", f"MODEL_NAME={name}",
         f"MLFLOW_TRACKING_URI={tracking_uri}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = [line for line in printed.splitlines() if "mlflow models serve" in line]
    assert len(lines) == 1, printed
    command = lines[0]
    assert f'-m "models:/{name}@champion" --env-manager local --host 127.0.0.1' in command
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bash", "-c", command],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return server, port


def _stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=20)


def _invoke(port: int, rows: pd.DataFrame) -> list[Any]:
    # Missing values as null; ±inf as JSON's Infinity (Python's json writes and reads it).
    records = [{k: None if pd.isna(v) else v for k, v in r.items()}
               for r in rows.to_dict("records")]  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps({"dataframe_records": records}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - localhost
        assert response.status == 200
        return json.loads(response.read())["predictions"]


def _as_frame(task: str, answer: Any, index: pd.Index, classes: list[str] | None) -> pd.DataFrame:
    """Returns an answer (pyfunc, REST or batch) as one column per output, rows by id."""
    if isinstance(answer, pd.Series):
        return answer.to_frame("prediction").set_axis(index)
    if isinstance(answer, pd.DataFrame):
        return answer.set_axis(index)
    frame = pd.DataFrame(answer, index=index)
    return frame[classes] if task == "multiclass" else frame[["prediction"]]


def _batch(spark, champion: dict, rows: pd.DataFrame, task: str, classes) -> pd.DataFrame:
    """Returns the batch path's predictions by id: inference cleaning, then score_batch."""
    data = rows.reindex(columns=FEATURES).reset_index()  # the absent column: null on every row
    records = [
        (int(i), float(d), float(t), None if pd.isna(c) else c, None if pd.isna(h) else int(h))
        for i, d, t, c, h in data.itertuples(index=False)
    ]
    intermediate = spark.createDataFrame(records, SCHEMA)
    statistics = champion_cleaning_statistics(champion, None)
    primary, _ = clean(intermediate, statistics, CLEANING)
    predictions, _ = score_batch(primary, champion, {"keys": ["id"], "passthrough": []})
    scored = predictions.toPandas().set_index("id").sort_index()
    if task == "multiclass":
        return scored[[f"probability_{c}" for c in classes]].set_axis(classes, axis=1)
    return scored[["prediction"]]


def _differences(expected: pd.DataFrame, actual: pd.DataFrame) -> tuple[int, float]:
    """Returns (rows differing by more than 1e-6, the largest gap), relative past 1 in size.

    Probabilities differ by at most 1e-6; a regression value (float32, in the label's units)
    by 1e-6 of itself: float32 holds about seven digits.
    """
    gap = (expected - actual.loc[expected.index, expected.columns]).abs()
    gap = (gap / expected.abs().clip(lower=1.0)).max(axis=1)
    return int((gap > 1e-6).sum()), float(gap.max())


# Three servers and a Spark UDF: about 70 s, so with the end-to-end tests (make test-e2e).
@pytest.mark.e2e
def test_pyfunc_rest_and_spark_batch_give_one_answer_per_raw_row(spark, mlflow_store, tmp_path):
    cleaning_statistics = fit_cleaning_statistics(spark.createDataFrame(FIT_ROWS, SCHEMA), CLEANING)
    uris = {
        task: _log_champion(f"parity_{task}", statistics, cleaning_statistics, seed)
        for seed, (task, statistics) in enumerate(TASKS.items())
    }
    servers = {
        task: _start_server(f"parity_{task}", mlflow_store, tmp_path / f"{task}.log")
        for task in TASKS
    }
    try:
        for task, statistics in TASKS.items():
            server, port = servers[task]
            _wait_ready(server, f"http://127.0.0.1:{port}/ping", tmp_path / f"{task}.log")
            classes = statistics.get("class_names") if task == "multiclass" else None
            pyfunc = mlflow.pyfunc.load_model(uris[task])
            champion = ChampionDataset(
                f"parity_{task}",
                artifacts={"cleaning_statistics": "cleaning/cleaning_statistics.json"},
                flavor="spark_udf",
                udf_args={"env_manager": "local"},
            ).load()
            for rows in _requests():
                what = f"{task}, columns {list(rows.columns)}"
                local = _as_frame(task, pyfunc.predict(rows), rows.index, classes)
                served = _as_frame(task, _invoke(port, rows), rows.index, classes)
                batch = _batch(spark, champion, rows, task, classes)
                infinite = rows.isin([INF, -INF]).any(axis=1)  # non_finite: batch sets it aside
                assert sorted(batch.index) == sorted(rows.index[~infinite]), what
                assert _differences(batch, local) == (0, pytest.approx(0, abs=1e-6)), (
                    f"{what}: pyfunc vs batch (rows differing, largest gap)"
                )
                assert _differences(batch, served) == (0, pytest.approx(0, abs=1e-6)), (
                    f"{what}: REST vs batch (rows differing, largest gap)"
                )
                # The rows batch cleaning sets aside are served, with ±inf as missing.
                assert local.notna().all().all() and served.notna().all().all(), what
                assert _differences(local, served)[0] == 0, what
    finally:
        for server, _ in servers.values():
            _stop(server)


def test_the_plan_is_idempotent_so_batch_rows_cleaned_twice_score_the_same(spark):
    statistics = fit_cleaning_statistics(spark.createDataFrame(FIT_ROWS, SCHEMA), CLEANING)
    plan = cleaning_plan.restrict(
        build_plan(CleaningParams(**CLEANING), statistics, statistics["column_types"]), FEATURES
    )
    rows = _requests()[0]
    once = cleaning_plan.apply(rows, plan)
    pd.testing.assert_frame_equal(cleaning_plan.apply(once, plan), once)
    lower, upper = plan["columns"]["distance"]["clip"]
    assert once.loc[4, "distance"] == upper and once.loc[5, "distance"] == lower
    assert (
        once.loc[2, "carrier"] == "DL"
        and once.loc[7, "distance"] == statistics["impute"]["distance"]
    )
