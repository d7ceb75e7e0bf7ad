"""The ensemble (training.ensemble: k): k heads on shared embeddings, one loss each, served mean."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ml_lifecycle.model.layers import build_model, compile_model, predict_raw, to_model_inputs
from tests.model_data import TRAINING
from tests.pipelines.training.test_numeric_embeddings import ROWS, STATISTICS

MULTICLASS = {**STATISTICS, "task": "multiclass", "class_names": ["a", "b", "c"]}
REGRESSION = {**STATISTICS, "task": "regression", "label": {"rows": 100, "mean": 5.0, "std": 2.0}}


def _params(k: int) -> dict:
    return {**TRAINING, "hidden_units": [8], "dropout": 0.0, "ensemble": k}


def _member_outputs(serving: keras.Model, k: int) -> list[keras.KerasTensor]:
    names = [f"member_{i}_prediction" for i in range(k)]
    return [serving.get_layer(name).output for name in names]


@pytest.mark.parametrize("statistics", [STATISTICS, MULTICLASS, REGRESSION], ids=["binary",
                         "multiclass", "regression"])  # fmt: skip
def test_the_served_prediction_is_the_mean_of_the_members(statistics, tmp_path):
    keras.utils.set_random_seed(0)
    serving, twin = build_model(statistics, _params(3))
    members = keras.Model(serving.inputs, _member_outputs(serving, 3))
    served = predict_raw(serving, ROWS)
    spec = {name: "string" if name == "c" else "float32" for name in ROWS}
    each = [np.asarray(m) for m in members.predict_on_batch(to_model_inputs(ROWS, spec))]
    np.testing.assert_allclose(served, np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(each[0], each[1])  # members start apart (their own weights)
    # The served model saves and loads as one raw-in Keras model (MemberStack is the twin's only).
    serving.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predict_raw(loaded, ROWS), served, rtol=1e-6)
    width = served.shape[1]
    assert twin.output.shape[1:] == (3, width)  # the twin stacks them for their own losses


def test_the_loss_is_the_mean_of_the_members_losses_and_metrics_are_of_their_mean():
    keras.utils.set_random_seed(0)
    _, twin = build_model(STATISTICS, _params(2))
    compile_model(twin, "binary", keras.optimizers.Adam(1e-3), members=2)
    inputs = {"x": np.array([[1.0], [12.0], [5.0], [18.0]], "float32"),
              "y": np.array([[1.0], [2.0], [3.0], [50.0]], "float32"),
              "c": np.array([[1], [2], [0], [1]], "int64")}  # fmt: skip
    labels = np.array([[0.0], [1.0], [0.0], [1.0]], "float32")
    stacked = np.asarray(twin.predict_on_batch(inputs))  # (4, 2, 1)
    results = twin.evaluate(inputs, labels, verbose=0, return_dict=True)
    bce = keras.losses.binary_crossentropy
    members = [float(np.mean(bce(labels, stacked[:, i]))) for i in range(2)]
    assert results["loss"] == pytest.approx(np.mean(members), rel=1e-4)
    accuracy = np.mean((stacked.mean(axis=1) > 0.5) == labels)
    assert results["accuracy"] == pytest.approx(accuracy)


def test_one_member_is_the_single_network():
    _, twin = build_model(STATISTICS, _params(1))
    assert twin.output.shape[1:] == (1,)
    assert "prediction" in [layer.name for layer in twin.layers]
