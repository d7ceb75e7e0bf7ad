"""The MLflow UI in a real headless Chromium: scripts/check_mlflow_ui.py against a store.

Two `kedro run`s take minutes on 2 cores, so this test seeds the store itself with two runs
shaped like the lifecycle's (experiment, run names, flattened params, test metrics, an epoch
history) and lets the script check the runs page and the compare view. `make check-ui` runs the
same check on two real `kedro run --env test` runs.
"""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_mlflow_ui.py"

_spec = importlib.util.spec_from_file_location("check_mlflow_ui", SCRIPT)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

# Enough metrics that the compare view's metric grid must be scrolled to show test.model.roc_auc.
METRICS = [
    *(f"rows.{split}" for split in ("train", "validation", "test")),
    *(
        f"test.{who}.{name}"
        for who in ("baseline", "model")
        for name in ("accuracy", "brier", "f1", "log_loss", "pr_auc", "precision", "recall")
    ),
    "test.baseline.roc_auc",
]


def seed_store(store: Path) -> list[dict]:
    """Two finished runs in store/mlflow.db that differ in the learning rate and the metric."""
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.create_experiment(
        check.EXPERIMENT, artifact_location=(store / "mlruns").as_uri()
    )
    runs = []
    for index, (name, lr, auc) in enumerate(
        (("__default__", "0.002", 0.5621), ("training+evaluation+registry", "0.0005", 0.4430))
    ):
        run = client.create_run(
            experiment, run_name=name, tags={"kedro_env": "test", "pipeline": name}
        )
        now = 1_700_000_000_000 + index * 60_000
        params = {check.PARAM: lr, "training.epochs": "3", "training.batch_size": "128"}
        metrics = [Metric(m, 0.1 + i / 100, now, 0) for i, m in enumerate(METRICS)]
        metrics.append(Metric(check.METRIC, auc, now, 0))
        metrics += [Metric("epoch.val_auc", auc - 0.05 * (2 - e), now + e, e) for e in range(3)]
        client.log_batch(
            run.info.run_id,
            metrics=metrics,
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run.info.run_id, "FINISHED")
        runs.append({"id": run.info.run_id, "name": name, "lr": lr, "auc": auc})
    return runs


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.e2e
def test_the_ui_shows_both_runs_their_learning_rates_and_the_metric(tmp_path):
    if check.find_chromium() is None:
        pytest.skip(
            "no Chromium binary on PATH (Debian: apt-get install chromium; or set $CHROMIUM)"
        )
    store = tmp_path / "store"
    store.mkdir()
    runs = seed_store(store)
    shots = tmp_path / "shots"

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--store", str(store), "--screenshots", str(shots)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, output
    for run in runs:
        assert run["id"] in result.stdout and run["name"] in result.stdout
    assert "compare training.learning_rate ['0.002', '0.0005']" in result.stdout, output
    assert "compare test.model.roc_auc ['0.562', '0.443']" in result.stdout, output
    for page in ("runs", "compare"):
        assert png_size(shots / f"mlflow_{page}.png") == (check.WIDTH, check.HEIGHT)


def test_a_run_the_ui_does_not_show_fails_the_check(tmp_path):
    """The check is no rubber stamp: a store without the second learning rate fails it."""
    store = tmp_path / "store"
    store.mkdir()
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.create_experiment(check.EXPERIMENT)
    run = client.create_run(experiment, run_name="__default__")
    client.log_param(run.info.run_id, check.PARAM, "0.002")
    client.log_metric(run.info.run_id, check.METRIC, 0.56)
    with pytest.raises(check.CheckFailed, match="no run with training.learning_rate=0.0005"):
        check.read_runs(store)


def test_a_shown_number_must_be_the_logged_one_to_its_precision():
    assert check.same_number("0.562", 0.5621288798920379)
    assert check.same_number("0.5621288798920379", 0.5621288798920379)
    assert not check.same_number("0.563", 0.5621288798920379)
    assert not check.same_number("0.56212", 0.5621)
    assert not check.same_number("n/a", 0.5)
