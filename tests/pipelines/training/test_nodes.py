"""Training: the streamed input, the raw-in model, learning, determinism, the device paths."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml_lifecycle.datasets import KerasModelDataset
from ml_lifecycle.model.inputs import iterate_batches, lookup_indices, training_inputs
from ml_lifecycle.model.layers import build_model, input_spec, predict_raw
from ml_lifecycle.pipelines.training.nodes import train_model
from tests.model_data import TRAINING, write_shards

ROOT = Path(__file__).parents[3]


@pytest.fixture
def shards(easy_shards):
    return easy_shards


@pytest.fixture
def trained(easy_trained):
    return easy_trained


def test_stream_yields_every_row_once_per_epoch_in_full_batches(shards):
    statistics, splits = shards
    spec = input_spec(statistics)
    rows = splits["train"].count_rows()
    seen = []
    sizes = []
    for inputs, labels, extras in iterate_batches(
        splits["train"], spec, "binary", 100, shuffle_buffer=500, seed=1, extra_columns=("id",)
    ):
        sizes.append(len(labels))
        seen.extend(extras["id"].tolist())
        assert set(inputs) == set(spec) and inputs["x1"].shape == (len(labels), 1)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == rows
    assert all(s == 100 for s in sizes[:-1]) and 0 < sizes[-1] <= 100

    def order(epoch):
        batches = iterate_batches(
            splits["train"], spec, "binary", 100, shuffle_buffer=500, seed=1, epoch=epoch,
            extra_columns=("id",),
        )  # fmt: skip
        return [i for _, _, extras in batches for i in extras["id"].tolist()]

    assert order(0) == seen  # same seed and epoch: same order
    assert order(1) != seen and sorted(order(1)) == sorted(seen)  # a new epoch: a new order
    capped = iterate_batches(splits["train"], spec, "binary", 100, max_rows=250)
    assert sum(len(labels) for _, labels, _ in capped) == 300  # whole batches up to the cap


def test_model_preprocessing_carries_the_spark_statistics(shards):
    statistics, _ = shards
    model, _ = build_model(statistics, TRAINING)
    norm = model.get_layer("x1_norm")
    assert float(np.ravel(norm.mean)[0]) == pytest.approx(statistics["numeric"]["x1"]["mean"])
    assert float(np.ravel(norm.variance)[0]) == pytest.approx(
        statistics["numeric"]["x1"]["variance"]
    )
    lookup = model.get_layer("cat_lookup")
    assert lookup.get_vocabulary()[1:] == statistics["categorical"]["cat"]["vocabulary"]
    # x2 is min-max scaled: its min maps to 0 and its max to 1.
    x2 = model.get_layer("x2_norm")
    low, high = statistics["numeric"]["x2"]["min"], statistics["numeric"]["x2"]["max"]
    scaled = np.asarray(x2(np.array([[low], [high]], dtype="float32")))
    assert scaled.ravel() == pytest.approx([0.0, 1.0], abs=1e-5)


def test_pipeline_lookups_match_the_models_lookup_layers(shards):
    statistics, _ = shards
    model, _ = build_model(statistics, TRAINING)
    _, lookups = training_inputs(statistics)
    cats = pa.array(["a", "d", "zzz", None, ""])
    hours = pa.array([0, 23, 99, None, -1], type=pa.int32())
    assert (
        lookup_indices(cats, lookups["cat"]).ravel().tolist()
        == np.asarray(
            model.get_layer("cat_lookup")(
                np.array([["a"], ["d"], ["zzz"], [""], [""]], dtype=object)
            )
        )
        .ravel()
        .tolist()
    )
    expected = np.asarray(model.get_layer("hour_lookup")(np.array([[0], [23], [99], [-1], [-1]])))
    assert lookup_indices(hours, lookups["hour"]).ravel().tolist() == expected.ravel().tolist()
    assert lookup_indices(cats, lookups["cat"]).ravel().tolist()[2:] == [0, 0, 0]  # OOV/missing


def test_short_training_learns_the_easy_problem(trained):
    _, history = trained
    losses = history["history"]["loss"]
    assert losses[-1] < losses[0]
    assert max(history["history"]["val_auc"]) > 0.9
    summary = history["summary"]
    assert summary["epochs_run"] == 4 and summary["devices"]["replicas"] == 1
    assert summary["examples_per_second"] > 0


def test_saved_model_scores_raw_rows_with_unseen_and_missing_values(trained, shards, tmp_path):
    statistics, _ = shards
    model, _ = trained
    dataset = KerasModelDataset(str(tmp_path / "model.keras"))
    dataset.save(model)
    loaded = dataset.load()  # safe_mode: only registered layers
    bins = loaded.get_layer("x1_bin").get_config()["bin_boundaries"]
    assert bins == statistics["numeric"]["x1"]["bin_edges"] and len(bins) == 7
    raw = pd.DataFrame(
        {
            "x1": [2.5, -2.5, None, 0.1],
            "x2": [50.0, 50.0, 10.0, float("nan")],
            "x3": [10.0, 10.0, 1e6, None],
            "cat": ["a", "d", "never-seen", None],
            "hour": [3, 3, 99, None],
        }
    )
    scores = predict_raw(loaded, raw)
    assert scores.shape == (4, 1) and np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[0, 0] > 0.9 and scores[1, 0] < 0.1  # it learned x1 and cat
    assert scores == pytest.approx(predict_raw(model, raw), abs=1e-6)


def test_same_data_and_config_give_the_same_metrics(shards, trained):
    statistics, splits = shards
    params = copy.deepcopy(TRAINING)
    _, again = train_model(splits["train"], splits["validation"], statistics, params)
    first = trained[1]["history"]
    for key in ("loss", "val_loss", "val_auc"):
        assert again["history"][key] == pytest.approx(first[key], abs=1e-4)


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_other_tasks_train_from_configuration(spark, tmp_path, task):
    from tests.model_data import FEATURES  # noqa: PLC0415

    features = copy.deepcopy(FEATURES)
    features["task"] = task
    if task == "regression":
        features["label"] = "x1 * 10 + 5"
        monitor = {"monitor": "val_loss", "mode": "min", "patience": 5}
    else:
        features["label"] = "CASE WHEN x1 < -0.5 THEN 0 WHEN x1 < 0.5 THEN 1 ELSE 2 END"
        features["class_names"] = ["low", "mid", "high"]
        monitor = {"monitor": "val_accuracy", "mode": "max", "patience": 5}
    statistics, splits = write_shards(spark, tmp_path, features, rows=3000)
    # As ensembles of two: each member's loss and the metrics of their mean, per task.
    params = {**copy.deepcopy(TRAINING), "early_stopping": monitor, "epochs": 3, "ensemble": 2}
    model, history = train_model(splits["train"], splits["validation"], statistics, params)
    assert {"member_0_prediction", "member_1_prediction"} <= {x.name for x in model.layers}
    if task == "regression":
        assert statistics["label"]["mean"] == pytest.approx(5.0, abs=1.0)
        assert history["history"]["val_rmse"][-1] < 5.0  # the label's std is about 10
    else:
        assert model.output_shape == (None, 3)
        assert max(history["history"]["val_accuracy"]) > 0.8


# The shards are written here, with the session's Spark: the subprocess only starts TensorFlow
# (its logical devices must be set before TensorFlow runs anything, hence a process of its own).
DEVICE_SCRIPT = """
import json, sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from ml_lifecycle.datasets import ParquetShardsDataset
from ml_lifecycle.pipelines.training.nodes import train_model
from tests.model_data import TRAINING
root = Path(sys.argv[1])
statistics = json.loads((root / "statistics.json").read_text())
train, validation = (
    ParquetShardsDataset(str(root / f"{name}.parquet")).load() for name in ("train", "validation")
)
params = {**TRAINING, "epochs": 2, "strategy": "mirrored", "mixed_precision": "mixed_bfloat16"}
model, history = train_model(train, validation, statistics, params)
out = {"summary": history["summary"], "val_auc": history["history"]["val_auc"],
       "output_dtype": str(model.output.dtype),
       "dense_dtype": model.get_layer("dense_0").compute_dtype}
print("RESULT " + json.dumps(out))
"""


# A TensorFlow subprocess (logical devices are fixed at start-up): the end-to-end tier.
@pytest.mark.e2e
def test_mirrored_strategy_on_two_logical_devices_with_mixed_precision(spark, tmp_path):
    statistics, _ = write_shards(spark, tmp_path, rows=3000)
    (tmp_path / "statistics.json").write_text(json.dumps(statistics))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": "127.0.0.1"}
    result = subprocess.run(
        [sys.executable, "-c", DEVICE_SCRIPT, str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-2000:] + result.stderr[-4000:]
    out = json.loads(lines[0][len("RESULT ") :])
    devices = out["summary"]["devices"]
    assert devices["strategy"] == "MirroredStrategy" and devices["replicas"] == 2
    assert devices["precision"] == "mixed_bfloat16" and out["dense_dtype"] == "bfloat16"
    assert out["output_dtype"] == "float32"  # the head stays float32 for a stable loss
    assert out["summary"]["batch_size"] == 2 * 128  # per-replica batch times replicas
    assert all(math.isfinite(v) for v in out["val_auc"]) and max(out["val_auc"]) > 0.8
