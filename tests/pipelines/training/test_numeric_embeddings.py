"""Numeric embeddings (training.numeric_embedding): periodic (PLR) and piecewise-linear (PLE)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.layers import (
    PeriodicEmbedding,
    PiecewiseLinearEncoding,
    build_model,
    encoding_edges,
    predict_raw,
)
from ml_lifecycle.model.params import TrainingParams
from tests.model_data import TRAINING

STATISTICS = {
    "task": "binary",
    "label": {"rows": 100, "class_counts": {"0": 70, "1": 30}},
    "numeric": {
        "x": {
            "normalization": "zscore", "mean": 10.0, "variance": 4.0, "min": 0.0, "max": 20.0,
            "fill": 10.0, "count": 100, "bin_edges": [10.0, 12.0],
        },
        "y": {
            "normalization": "log_zscore", "mean": 1.0, "variance": 1.0, "min": 0.0,
            "max": 99.0, "fill": 3.0, "count": 100, "bin_edges": [math.e - 1, 9.0],
        },
    },
    "categorical": {"c": {"kind": "string", "vocabulary": ["a", "b"]}},
}  # fmt: skip
ROWS = {"x": [0.0, 9.5, 11.0, 30.0, float("nan")], "y": [0.0, 2.0, 5.0, 80.0, 1.0],
        "c": ["a", "b", "zz", "", "a"]}  # fmt: skip


def _params(**embedding):
    spec = {"kind": "periodic", "frequencies": 8, "sigma": 1.0, "dim": 6, **embedding}
    return {**TRAINING, "hidden_units": [8], "dropout": 0.0, "numeric_embedding": spec}


def test_piecewise_linear_encoding_matches_hand_computed_values():
    layer = PiecewiseLinearEncoding([0.0, 1.0, 3.0, 7.0])
    x = np.array([[-1.0], [0.5], [2.0], [5.0], [10.0]], "float32")
    expected = [
        [-1.0, 0.0, 0.0],  # below the first edge: the first bin extrapolates, the others are 0
        [0.5, 0.0, 0.0],
        [1.0, 0.5, 0.0],
        [1.0, 1.0, 0.5],
        [1.0, 1.0, 1.75],  # above the last edge: the last bin extrapolates
    ]
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-6)
    assert layer.compute_output_shape((None, 1)) == (None, 3)
    with pytest.raises(ValueError, match="increasing"):
        PiecewiseLinearEncoding([0.0, 0.0, 1.0])


def test_encoding_edges_are_the_normalized_min_bin_edges_and_max():
    # zscore: (v - 10) / 2 of [0, 10, 12, 20]
    assert encoding_edges(STATISTICS["numeric"]["x"]) == pytest.approx([-5.0, 0.0, 1.0, 5.0])
    # log_zscore: log1p(v) - 1 of [0, e - 1, 9, 99]
    assert encoding_edges(STATISTICS["numeric"]["y"]) == pytest.approx(
        [-1.0, 0.0, math.log(10) - 1, math.log(100) - 1]
    )
    constant = {**STATISTICS["numeric"]["x"], "min": 10.0, "max": 10.0, "bin_edges": [10.0]}
    assert encoding_edges(constant) == pytest.approx([-1.0, 1.0])


def test_periodic_embedding_has_its_shape_and_changes_with_the_input():
    keras.utils.set_random_seed(0)
    layer = PeriodicEmbedding(frequencies=8, sigma=1.0, dim=5)
    out = np.asarray(layer(np.array([[0.0], [0.3], [0.3], [2.0]], "float32")))
    assert out.shape == (4, 5) and (out >= 0).all()  # relu
    np.testing.assert_array_equal(out[1], out[2])
    assert not np.allclose(out[0], out[1]) and not np.allclose(out[1], out[3])
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(8,), (16, 5), (5,)]
    frequency = np.asarray(layer.frequency)
    # sin and cos of 2πcx before the dense layer: x = 0 gives sin 0 = 0 and cos 0 = 1.
    expected = np.maximum(np.concatenate([np.zeros(8), np.ones(8)]) @ np.asarray(layer.kernel), 0.0)
    np.testing.assert_allclose(out[0], expected, rtol=1e-5, atol=1e-6)
    x = 0.3
    angle = 2 * math.pi * frequency * x
    features = np.concatenate([np.sin(angle), np.cos(angle)])
    np.testing.assert_allclose(
        out[1], np.maximum(features @ np.asarray(layer.kernel), 0.0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("kind", ["periodic", "piecewise_linear", "none"])
def test_a_saved_model_with_numeric_embeddings_reloads_with_identical_predictions(kind, tmp_path):
    keras.utils.set_random_seed(1)
    model, _ = build_model(STATISTICS, _params(kind=kind))
    names = {layer.name for layer in model.layers}
    assert ("x_periodic" in names) == (kind == "periodic")
    assert ("x_ple" in names) == (kind == "piecewise_linear")
    before = predict_raw(model, ROWS)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(predict_raw(loaded, ROWS), before)
    assert before.shape == (5, 1) and np.isfinite(before).all()
    if kind == "piecewise_linear":
        assert loaded.get_layer("y_ple").edges == pytest.approx(
            encoding_edges(STATISTICS["numeric"]["y"])
        )


def test_the_same_seed_builds_the_same_embedding_weights():
    def weights(seed):
        keras.utils.set_random_seed(seed)
        model, _ = build_model(STATISTICS, _params())
        return [np.asarray(w) for w in model.get_layer("x_periodic").weights]

    first, again, other = weights(5), weights(5), weights(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_numeric_embedding_mistakes_name_their_key():
    with pytest.raises(ConfigError, match=r"^training\.numeric_embedding\.kind "):
        parse(TrainingParams, _params(kind="fourier"), "training")
    spec = {"kind": "periodic", "frequencies": 8, "sigma": 1.0}
    with pytest.raises(ConfigError, match=r"training\.numeric_embedding\.dim"):
        parse(TrainingParams, {**_params(), "numeric_embedding": spec}, "training")
    with pytest.raises(ConfigError, match=r"^training\.numeric_embedding\.sigma "):
        parse(TrainingParams, _params(sigma=0.0), "training")
    no_bins = {
        **STATISTICS,
        "numeric": {n: {k: v for k, v in s.items() if k != "bin_edges"}
                    for n, s in STATISTICS["numeric"].items()},
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"^training\.numeric_embedding\.kind: .*numeric_bins"):
        build_model(no_bins, _params(kind="piecewise_linear"))
