"""The Keras model, built from configuration and the Spark statistics of the train split.

It takes raw features: missing numbers are filled, logged, normalized and embedded (periodic or
piecewise-linear, `training.numeric_embedding`), categories are looked up and embedded, all inside
the model, so what is served is what was trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import layers

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.params import Embedding, NumericEmbedding, TrainingParams

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


@keras.saving.register_keras_serializable(package=PACKAGE)
class PeriodicEmbedding(layers.Layer):
    """PLR embedding of one column: relu(W [sin 2πcx, cos 2πcx] + b), c ~ N(0, sigma) trainable.

    Takes (batch, 1) normalized values and returns (batch, dim).
    """

    def __init__(self, frequencies: int = 16, sigma: float = 1.0, dim: int = 16, **kwargs: Any):
        super().__init__(**kwargs)
        self.frequencies, self.sigma, self.dim = int(frequencies), float(sigma), int(dim)

    def build(self, input_shape) -> None:
        self.frequency = self.add_weight(
            name="frequency",
            shape=(self.frequencies,),
            initializer=keras.initializers.RandomNormal(stddev=self.sigma),
        )
        self.kernel = self.add_weight(
            name="kernel", shape=(2 * self.frequencies, self.dim), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.dim,), initializer="zeros")

    def call(self, inputs):
        angle = (2 * math.pi) * keras.ops.cast(inputs, self.compute_dtype) * self.frequency
        periodic = keras.ops.concatenate([keras.ops.sin(angle), keras.ops.cos(angle)], axis=-1)
        return keras.ops.relu(keras.ops.matmul(periodic, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dim)

    def get_config(self) -> dict[str, Any]:
        config = {"frequencies": self.frequencies, "sigma": self.sigma, "dim": self.dim}
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PiecewiseLinearEncoding(layers.Layer):
    """PLE of one column on sorted edges b_0 < ... < b_T: T values, (x - b_{t-1}) / (b_t - b_{t-1})
    clipped to [0, 1], except that the first bin is not clipped below nor the last above.

    Takes (batch, 1) values and returns (batch, T).
    """

    def __init__(self, edges: Sequence[float] = (0.0, 1.0), **kwargs: Any):
        super().__init__(**kwargs)
        self.edges = [float(e) for e in edges]
        if len(self.edges) < 2 or np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"edges must be at least two increasing numbers, not {self.edges}")
        bins = len(self.edges) - 1
        self._left = np.asarray(self.edges[:-1], "float32")
        self._width = np.diff(np.asarray(self.edges, "float64")).astype("float32")
        self._low = np.asarray([-np.inf] + [0.0] * (bins - 1), "float32")
        self._high = np.asarray([1.0] * (bins - 1) + [np.inf], "float32")

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)
        position = (x - self._left) / self._width
        return keras.ops.minimum(keras.ops.maximum(position, self._low), self._high)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.edges) - 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "edges": self.edges}


def normalized(stats: dict[str, Any], values: Any) -> np.ndarray:
    """Returns raw values of a column as its numeric branch normalizes them (NumPy, float64)."""
    x = np.asarray(values, "float64")
    method = stats["normalization"]
    if method == "log_zscore":
        x = np.log1p(np.maximum(x, 0.0))
    if method in ("zscore", "log_zscore"):
        # keras Normalization divides by max(sqrt(variance), epsilon).
        x = (x - stats["mean"]) / max(math.sqrt(max(stats["variance"], 1e-12)), 1e-7)
    elif method == "minmax":
        x = (x - stats["min"]) / max(stats["max"] - stats["min"], 1e-12)
    return x


def encoding_edges(stats: dict[str, Any]) -> list[float]:
    """Returns a column's PLE edges on the normalized scale: its train min, the Spark quantile bin
    edges and its train max, normalized, distinct and increasing."""
    raw = [stats["min"], *stats.get("bin_edges", []), stats["max"]]
    edges: list[float] = []
    for value in sorted(normalized(stats, raw).tolist()):
        if not edges or value - edges[-1] > 1e-6:
            edges.append(float(value))
    if len(edges) < 2:  # a constant column: one bin around its value
        edges = [edges[0] - 1.0, edges[0] + 1.0]
    return edges


def embedding_dim(cardinality: int, spec: Embedding | Mapping[str, Any]) -> int:
    """Returns an embedding width growing with the fourth root of the cardinality, capped."""
    spec = parse(Embedding, spec, "training.embedding")
    width = math.ceil(spec.multiplier * cardinality**0.25)
    return int(min(spec.max_dim, max(spec.min_dim, width)))


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


def _embedded(name: str, stats: dict[str, Any], x, spec: NumericEmbedding):
    # The normalized value, embedded (training.numeric_embedding); `none` keeps the value itself.
    if spec.kind == "periodic":
        return PeriodicEmbedding(
            spec.frequencies, spec.sigma, spec.dim, name=f"{name}_periodic", dtype="float32"
        )(x)
    if spec.kind == "piecewise_linear":
        if not stats.get("bin_edges"):
            raise ConfigError(
                "training.numeric_embedding.kind: piecewise_linear needs the quantile bin edges "
                f"of {name}; set features.numeric_bins to 2 or more."
            )
        x = PiecewiseLinearEncoding(encoding_edges(stats), name=f"{name}_ple", dtype="float32")(x)
        return layers.Dense(spec.dim, activation="relu", name=f"{name}_ple_dense")(x)
    return x


def _binned_branch(name: str, stats: dict[str, Any], inputs, params: TrainingParams):
    # The raw value's quantile bin, embedded: lets the network learn a non-linear effect per
    # column (piecewise constant) beside the normalized value's linear one.
    edges = stats["bin_edges"]
    x = FillMissing(stats["fill"], name=f"{name}_bin_fill", dtype="float32")(inputs)
    x = layers.Discretization(bin_boundaries=edges, name=f"{name}_bin", dtype="float32")(x)
    width = embedding_dim(len(edges) + 1, params.embedding)
    x = layers.Embedding(len(edges) + 1, width, name=f"{name}_bin_embedding")(x)
    return layers.Flatten(name=f"{name}_bin_flat")(x)


def lookup_vocabulary(vocab: dict[str, Any]) -> list:
    """Returns the values a lookup layer indexes 1..n (0 is out-of-vocabulary and missing)."""
    if vocab["kind"] == "string":
        return [v for v in vocab["vocabulary"] if v != ""] or ["<none>"]
    return [int(v) for v in vocab["vocabulary"] if v != -1] or [-2]


def _lookup_layer(name: str, vocab: dict[str, Any]) -> layers.Layer:
    values = lookup_vocabulary(vocab)
    if vocab["kind"] == "string":
        return layers.StringLookup(vocabulary=values, name=f"{name}_lookup")
    return layers.IntegerLookup(vocabulary=values, name=f"{name}_lookup")


def build_model(
    statistics: dict[str, Any], params: TrainingParams | Mapping[str, Any]
) -> tuple[keras.Model, keras.Model]:
    """Returns (the raw-in model, its training twin fed lookup indices), sharing every weight.

    The raw-in model is the one saved and served: categories go through StringLookup or
    IntegerLookup layers holding the Spark vocabularies. The twin takes the indices those layers
    would produce, computed by the input pipeline from the same vocabularies: string tensors then
    never enter a distributed training step (MirroredStrategy cannot reduce them).
    """
    params = parse(TrainingParams, params, "training")
    numeric_inputs = {n: keras.Input(shape=(1,), name=n) for n in statistics["numeric"]}
    raw = {
        name: keras.Input(shape=(1,), name=name, dtype=input_spec(statistics)[name])
        for name in statistics["categorical"]
    }
    indices = {n: keras.Input(shape=(1,), name=n, dtype="int64") for n in statistics["categorical"]}
    numeric = [
        _embedded(n, s, _numeric_branch(n, s, numeric_inputs[n]), params.numeric_embedding)
        for n, s in statistics["numeric"].items()
    ]
    numeric += [
        _binned_branch(n, s, numeric_inputs[n], params)
        for n, s in statistics["numeric"].items()
        if s.get("bin_edges")
    ]
    embeddings, flatten = {}, {}
    for name, vocab in statistics["categorical"].items():
        size = len(lookup_vocabulary(vocab)) + 1
        width = embedding_dim(size, params.embedding)
        embeddings[name] = layers.Embedding(size, width, name=f"{name}_embedding")
        flatten[name] = layers.Flatten(name=f"{name}_flat")
    branches = len(numeric) + len(embeddings)
    concatenate = layers.Concatenate(name="features") if branches > 1 else None
    k = params.ensemble
    heads = [_head_layers(statistics, params, f"member_{i}_" if k > 1 else "") for i in range(k)]

    def apply(index_tensors: dict[str, Any]) -> list:
        parts = numeric + [flatten[n](embeddings[n](t)) for n, t in index_tensors.items()]
        features = concatenate(parts) if concatenate else parts[0]
        outputs = []
        for head in heads:
            x = features
            for layer in head:
                x = layer(x)
            outputs.append(x)
        return outputs

    looked_up = {name: _lookup_layer(name, statistics["categorical"][name])(raw[name])
                 for name in raw}  # fmt: skip
    served = apply(looked_up)
    if k > 1:  # the one served prediction: the members' mean
        served = [layers.Average(name="prediction", dtype="float32")(served)]
    serving = keras.Model({**numeric_inputs, **raw}, served[0], name="ml_lifecycle_model")
    # The twin fits each member on its own loss: it outputs them stacked, (batch, k, ...).
    members = apply(indices)
    fitted = MemberStack(name="members", dtype="float32")(members) if k > 1 else members[0]
    training = keras.Model({**numeric_inputs, **indices}, fitted, name="ml_lifecycle_training")
    return serving, training


class MemberStack(layers.Layer):
    """The ensemble members' outputs stacked on axis 1: (batch, k, ...) for their losses."""

    def call(self, inputs):
        return keras.ops.stack(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        first = input_shape[0]
        return (first[0], len(input_shape), *first[1:])


def _head_layers(statistics: dict[str, Any], params: TrainingParams, prefix: str = "") -> list:
    regularizer = keras.regularizers.L2(params.l2)
    head: list = []
    for i, units in enumerate(params.hidden_units):
        head.append(
            layers.Dense(
                units, activation="relu", kernel_regularizer=regularizer, name=f"{prefix}dense_{i}"
            )
        )
        if params.batch_norm:
            head.append(layers.BatchNormalization(name=f"{prefix}batch_norm_{i}"))
        if params.dropout:
            head.append(layers.Dropout(params.dropout, name=f"{prefix}dropout_{i}"))
    return head + _output_layers(statistics, prefix)


def _output_layers(statistics: dict[str, Any], prefix: str = "") -> list:
    task, label = statistics["task"], statistics["label"]
    if task == "binary":
        counts = {int(k): v for k, v in label["class_counts"].items()}
        rate = min(max(counts.get(1, 0) / max(label["rows"], 1), 1e-6), 1 - 1e-6)
        bias = keras.initializers.Constant(math.log(rate / (1 - rate)))
        return [
            layers.Dense(
                1,
                activation="sigmoid",
                bias_initializer=bias,
                dtype="float32",
                name=f"{prefix}prediction",
            )
        ]
    if task == "multiclass":
        classes = len(statistics["class_names"])
        return [
            layers.Dense(classes, activation="softmax", dtype="float32", name=f"{prefix}prediction")
        ]
    # The head predicts a standardized target; Rescaling maps it back to the label's units.
    return [
        layers.Dense(1, dtype="float32", name=f"{prefix}standardized"),
        layers.Rescaling(
            scale=max(label["std"], 1e-6),
            offset=label["mean"],
            dtype="float32",
            name=f"{prefix}prediction",
        ),
    ]


def _members_averaged(metric: type[keras.metrics.Metric]) -> type[keras.metrics.Metric]:
    """`metric` of the ensemble's mean prediction, fed the members stacked on axis 1."""

    class Averaged(metric):
        def update_state(self, y_true, y_pred, sample_weight=None):  # noqa: ANN001, ANN201
            mean = keras.ops.mean(y_pred, axis=1)
            return super().update_state(y_true, mean, sample_weight=sample_weight)

    Averaged.__name__ = f"Averaged{metric.__name__}"
    return Averaged


class MemberLoss(keras.losses.Loss):
    """The mean of the members' losses: `loss` of each member's output against the label.

    Each member is fitted as a network of its own would be (Lakshminarayanan et al. 2017; TabM,
    Gorishniy et al. 2024, trains its members so); their mean prediction is what is served.
    """

    def __init__(self, loss: keras.losses.Loss, members: int, sparse: bool, **kwargs: Any):
        super().__init__(name=f"{loss.name}_per_member", **kwargs)
        self.loss, self.members, self.sparse = loss, members, sparse

    def call(self, y_true, y_pred):  # noqa: ANN001, ANN201
        # (batch, 1) labels against (batch, k, ...) outputs: one label per member.
        labels = keras.ops.reshape(y_true, (-1, 1) if self.sparse else (-1, 1, 1))
        labels = keras.ops.repeat(labels, self.members, axis=1)
        return self.loss.call(labels, y_pred)


def compile_model(
    model: keras.Model, task: str, optimizer: keras.optimizers.Optimizer, members: int = 1
) -> keras.Model:
    """Compiles `model` with the loss and metrics of its task.

    With `members` > 1 the model outputs the ensemble's members stacked on axis 1 (see
    `build_model`): the loss is the mean of theirs, the metrics are of their mean prediction.
    """
    wrap = _members_averaged if members > 1 else (lambda metric: metric)
    if task == "binary":
        loss = keras.losses.BinaryCrossentropy()
        metrics = [
            wrap(keras.metrics.AUC)(name="auc", num_thresholds=1000),
            wrap(keras.metrics.AUC)(name="pr_auc", curve="PR", num_thresholds=1000),
            wrap(keras.metrics.BinaryAccuracy)(name="accuracy"),
        ]
    elif task == "multiclass":
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [wrap(keras.metrics.SparseCategoricalAccuracy)(name="accuracy")]
    else:
        loss = keras.losses.MeanSquaredError()
        metrics = [
            wrap(keras.metrics.RootMeanSquaredError)(name="rmse"),
            wrap(keras.metrics.MeanAbsoluteError)(name="mae"),
        ]
    if members > 1:
        loss = MemberLoss(loss, members, sparse=task == "multiclass")
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


def predict_raw(model: keras.Model, rows: Any, batch_size: int = 8192) -> np.ndarray:
    """Returns the model's output for raw rows (a DataFrame or dict of lists), batch by batch.

    `predict_on_batch` takes string arrays, which `Model.predict`'s NumPy adapter refuses.
    """
    inputs = to_model_inputs(rows, {name: _dtype(t) for name, t in model.input.items()})
    total = len(next(iter(inputs.values())))
    parts = [
        np.asarray(model.predict_on_batch({k: v[i : i + batch_size] for k, v in inputs.items()}))
        for i in range(0, total, batch_size)
    ]
    return np.concatenate(parts) if parts else np.empty((0, 1), "float32")


def _dtype(tensor: Any) -> str:
    dtype = str(getattr(tensor, "dtype", "float32"))
    return "string" if "string" in dtype else ("int64" if "int" in dtype else "float32")
