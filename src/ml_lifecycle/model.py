"""The Keras model, built from configuration and the Spark statistics of the train split.

It takes raw features: missing numbers are filled, logged and normalized, categories are looked up
and embedded, all inside the model, so what is served is what was trained.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import layers

PACKAGE = "ml_lifecycle"


@keras.saving.register_keras_serializable(package=PACKAGE)
class FillMissing(layers.Layer):
    """Replaces NaN with a fixed value (the raw train mean of the column)."""

    def __init__(self, value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, inputs):
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        return keras.ops.where(keras.ops.isnan(inputs), self.value, inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Log1p(layers.Layer):
    """Returns log(1 + max(x, 0)), the transform the Spark statistics of log columns were fit on."""

    def call(self, inputs):
        return keras.ops.log1p(keras.ops.maximum(inputs, 0.0))


def embedding_dim(cardinality: int, spec: dict[str, Any]) -> int:
    """Returns an embedding width growing with the fourth root of the cardinality, capped."""
    width = math.ceil(float(spec.get("multiplier", 2.0)) * cardinality**0.25)
    return int(min(int(spec.get("max_dim", 32)), max(int(spec.get("min_dim", 2)), width)))


def input_spec(statistics: dict[str, Any]) -> dict[str, str]:
    """Returns {feature: dtype} of the model's raw inputs (float32, int64 or string)."""
    spec = {name: "float32" for name in statistics["numeric"]}
    for name, vocab in statistics["categorical"].items():
        spec[name] = "string" if vocab["kind"] == "string" else "int64"
    return spec


def _numeric_branch(name: str, stats: dict[str, Any], inputs):
    # Preprocessing stays in float32 under a mixed policy: float16 cannot hold e.g. 1017.3 - 1017.
    x = FillMissing(stats["fill"], name=f"{name}_fill", dtype="float32")(inputs)
    method = stats["normalization"]
    if method == "log_zscore":
        x = Log1p(name=f"{name}_log1p", dtype="float32")(x)
    if method in ("zscore", "log_zscore"):
        variance = max(stats["variance"], 1e-12)
        x = layers.Normalization(
            mean=stats["mean"], variance=variance, name=f"{name}_norm", dtype="float32"
        )(x)
    elif method == "minmax":
        span = max(stats["max"] - stats["min"], 1e-12)
        x = layers.Normalization(
            mean=stats["min"], variance=span**2, name=f"{name}_norm", dtype="float32"
        )(x)
    return x


def _categorical_branch(name: str, vocab: dict[str, Any], inputs, embedding: dict[str, Any]):
    if vocab["kind"] == "string":
        values = [v for v in vocab["vocabulary"] if v != ""]
        lookup = layers.StringLookup(vocabulary=values or ["<none>"], name=f"{name}_lookup")
    else:
        values = [int(v) for v in vocab["vocabulary"] if v != -1]
        lookup = layers.IntegerLookup(vocabulary=values or [-2], name=f"{name}_lookup")
    index = lookup(inputs)  # 0 is the out-of-vocabulary bucket: unseen values and missing ones
    size = lookup.vocabulary_size()
    x = layers.Embedding(size, embedding_dim(size, embedding), name=f"{name}_embedding")(index)
    return layers.Flatten(name=f"{name}_flat")(x)


def build_model(statistics: dict[str, Any], params: dict[str, Any]) -> keras.Model:
    """Returns an uncompiled functional model: one raw input per feature, output by task."""
    inputs, branches = {}, []
    for name, dtype in input_spec(statistics).items():
        inputs[name] = keras.Input(shape=(1,), name=name, dtype=dtype)
    for name, stats in statistics["numeric"].items():
        branches.append(_numeric_branch(name, stats, inputs[name]))
    for name, vocab in statistics["categorical"].items():
        branches.append(
            _categorical_branch(name, vocab, inputs[name], params.get("embedding") or {})
        )
    x = layers.Concatenate(name="features")(branches) if len(branches) > 1 else branches[0]
    regularizer = keras.regularizers.L2(float(params.get("l2", 0.0)))
    for i, units in enumerate(params.get("hidden_units", [128, 64])):
        x = layers.Dense(
            units, activation="relu", kernel_regularizer=regularizer, name=f"dense_{i}"
        )(x)
        if params.get("batch_norm", False):
            x = layers.BatchNormalization(name=f"batch_norm_{i}")(x)
        if params.get("dropout", 0.0):
            x = layers.Dropout(float(params["dropout"]), name=f"dropout_{i}")(x)
    outputs = _output(x, statistics)
    return keras.Model(inputs=inputs, outputs=outputs, name="ml_lifecycle_model")


def _output(x, statistics: dict[str, Any]):
    task, label = statistics["task"], statistics["label"]
    if task == "binary":
        counts = label["class_counts"]
        rate = min(max(counts.get(1, 0) / max(label["rows"], 1), 1e-6), 1 - 1e-6)
        bias = keras.initializers.Constant(math.log(rate / (1 - rate)))
        return layers.Dense(
            1, activation="sigmoid", bias_initializer=bias, dtype="float32", name="prediction"
        )(x)
    if task == "multiclass":
        classes = len(statistics["class_names"])
        return layers.Dense(classes, activation="softmax", dtype="float32", name="prediction")(x)
    z = layers.Dense(1, dtype="float32", name="standardized")(x)
    # The head predicts a standardized target; this scales it back to the label's units.
    return layers.Rescaling(
        scale=max(label["std"], 1e-6), offset=label["mean"], dtype="float32", name="prediction"
    )(z)


def compile_model(
    model: keras.Model, task: str, optimizer: keras.optimizers.Optimizer
) -> keras.Model:
    """Compiles `model` with the loss and metrics of its task."""
    if task == "binary":
        loss = keras.losses.BinaryCrossentropy()
        metrics = [
            keras.metrics.AUC(name="auc", num_thresholds=1000),
            keras.metrics.AUC(name="pr_auc", curve="PR", num_thresholds=1000),
            keras.metrics.BinaryAccuracy(name="accuracy"),
        ]
    elif task == "multiclass":
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss = keras.losses.MeanSquaredError()
        metrics = [
            keras.metrics.RootMeanSquaredError(name="rmse"),
            keras.metrics.MeanAbsoluteError(name="mae"),
        ]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def to_model_inputs(columns: Any, spec: dict[str, str]) -> dict[str, np.ndarray]:
    """Returns raw values (a DataFrame or dict of lists) as (n, 1) arrays; missing → NaN, "", -1."""
    out = {}
    for name, dtype in spec.items():
        values = pd.Series(list(columns[name]), dtype=object)
        if dtype == "float32":
            array = pd.to_numeric(values, errors="coerce").to_numpy("float32")
        elif dtype == "int64":
            array = pd.to_numeric(values, errors="coerce").fillna(-1).to_numpy("int64")
        else:
            array = values.where(values.notna(), "").astype(str).to_numpy(object)
        out[name] = array.reshape(-1, 1)
    return out
