"""`training.strategy: multi_worker`: two local workers train one model in sync.

Each worker is its own process with its own TF_CONFIG (task index 0 is the chief) and runs the
project's `train_model` node on the same shards. TensorFlow's collective-ops gRPC server binds
0.0.0.0 (the port is configurable, the address is not), so the two workers run inside a private
network namespace (`unshare --net`) whose only interface is loopback: nothing is reachable from
outside.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.model_data import write_shards

ROOT = Path(__file__).parents[3]
# Two more Python processes, each starting TensorFlow and training: `make test-e2e` runs it, the
# fast tier keeps the in-process strategy checks and the two-device MirroredStrategy run.
pytestmark = pytest.mark.e2e
TIMEOUT = 420

WORKER = """
import json, sys
from pathlib import Path

import numpy as np

from ml_lifecycle.datasets import ParquetShardsDataset
from ml_lifecycle.pipelines.training.nodes import train_model
from tests.model_data import TRAINING

index, root = int(sys.argv[1]), Path(sys.argv[2])
statistics = json.loads((root / "statistics.json").read_text())
train, validation = (
    ParquetShardsDataset(str(root / f"{name}.parquet")).load() for name in ("train", "validation")
)
params = {**TRAINING, "epochs": 2, "strategy": "multi_worker", "mixed_precision": "float32"}
model, history = train_model(train, validation, statistics, params)
out = root / f"worker{index}"
out.mkdir()
model.save(out / "model.keras")
np.savez(out / "weights.npz", *model.get_weights())
(out / "history.json").write_text(json.dumps(history))
"""

# Both workers in one private network namespace: bring loopback up, start both, wait for both.
LAUNCHER = """
set -u
ip link set lo up
for i in 0 1; do
  TF_CONFIG="$(cat "$ROOT_DIR/tf_config_$i.json")" \
    "$PYTHON" "$ROOT_DIR/worker.py" "$i" "$ROOT_DIR" > "$ROOT_DIR/worker$i.log" 2>&1 &
  eval "pid$i=$!"
done
wait "$pid0"; echo $? > "$ROOT_DIR/rc0"
wait "$pid1"; echo $? > "$ROOT_DIR/rc1"
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _private_network_available() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(
        ["unshare", "--net", "ip", "link", "set", "lo", "up"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def shards(spark, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multi_worker")
    statistics, _ = write_shards(spark, root, rows=3000)
    (root / "statistics.json").write_text(json.dumps(statistics))
    return root


def test_two_workers_train_one_model_in_sync(shards):
    if not _private_network_available():
        pytest.skip("needs `unshare --net` (root): TF's worker gRPC server binds every interface")
    ports = [free_port(), free_port()]
    workers = [f"127.0.0.1:{port}" for port in ports]
    for index in (0, 1):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        (shards / f"tf_config_{index}.json").write_text(json.dumps(config))
    (shards / "worker.py").write_text(WORKER)
    (shards / "launch.sh").write_text(LAUNCHER)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ROOT_DIR": str(shards),
        "PYTHON": sys.executable,
        "CUDA_VISIBLE_DEVICES": "",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.pop("TF_CONFIG", None)
    launcher = subprocess.Popen(  # noqa: S603
        ["unshare", "--net", "bash", str(shards / "launch.sh")],  # noqa: S607
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        launcher.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()

    logs = {i: (shards / f"worker{i}.log").read_text(errors="replace")[-3000:] for i in (0, 1)}
    for index in (0, 1):
        rc = shards / f"rc{index}"
        assert rc.exists() and rc.read_text().strip() == "0", logs[index]

    histories = [json.loads((shards / f"worker{i}/history.json").read_text()) for i in (0, 1)]
    for history in histories:
        devices = history["summary"]["devices"]
        assert devices["strategy"] == "MultiWorkerMirroredStrategy"
        assert devices["replicas"] == 2  # one CPU replica on each worker, in sync
        assert devices["precision"] == "float32"
        assert history["summary"]["batch_size"] == 2 * 128  # per-replica batch times replicas
        assert history["summary"]["epochs_run"] == 2
    # The easy problem is learnt (AUC well above chance), and both workers saw the same metrics.
    assert max(histories[0]["history"]["val_auc"]) > 0.8
    assert histories[0]["history"] == histories[1]["history"]

    # Replicas stay in sync: every weight of the two saved models is the same.
    weights = [np.load(shards / f"worker{i}/weights.npz") for i in (0, 1)]
    assert len(weights[0].files) == len(weights[1].files) > 0
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name])
    assert (shards / "worker0/model.keras").stat().st_size > 0
