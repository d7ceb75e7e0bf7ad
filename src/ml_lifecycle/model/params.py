"""The typed `training` and `evaluation` blocks (conf/base/parameters_{training,evaluation}.yml).

They live beside the model code that reads them (layers, devices, scoring) rather than in the
stage packages, which import the model code: the stages re-export them from their `params.py`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import Params

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class Embedding(Params):
    """Embedding width of a categorical: ceil(multiplier * cardinality^0.25), within the dims."""

    multiplier: PositiveFloat
    min_dim: PositiveInt
    max_dim: PositiveInt


class NumericEmbedding(Params):
    """How each normalized numeric value enters the network (Gorishniy et al. 2022).

    `none`: the value itself; `periodic` (PLR): `frequencies` trainable frequencies c ~ N(0,
    sigma), concat(sin 2πcx, cos 2πcx), then Dense(dim, relu); `piecewise_linear` (PLE): the
    value's piecewise-linear encoding on the train-split quantile bin edges, then Dense(dim,
    relu). Every key is required; a kind ignores the keys it does not read.
    """

    kind: Literal["none", "periodic", "piecewise_linear"]
    frequencies: PositiveInt
    sigma: PositiveFloat
    dim: PositiveInt


class ConstantSchedule(Params):
    name: Literal["constant"]


class CosineSchedule(Params):
    name: Literal["cosine"]
    alpha: Annotated[float, Field(ge=0, le=1)]


class ExponentialSchedule(Params):
    name: Literal["exponential"]
    rate: PositiveFloat  # the decay per epoch


class PlateauSchedule(Params):
    name: Literal["reduce_on_plateau"]
    factor: Annotated[float, Field(gt=0, lt=1)]
    patience: Annotated[int, Field(ge=0)]


Schedule = Annotated[
    ConstantSchedule | CosineSchedule | ExponentialSchedule | PlateauSchedule,
    Field(discriminator="name"),
]


class EarlyStopping(Params):
    """`training.early_stopping`: `auto` monitors val_auc (max) for a binary task and val_loss
    (min) otherwise; a named metric's `mode: auto` is min for a loss or error, else max."""

    monitor: str
    mode: Literal["min", "max", "auto"]
    patience: Annotated[int, Field(ge=0)]

    def resolved(self, task: str) -> tuple[str, Literal["min", "max"]]:
        """Returns (monitor, mode) for a model of `task`; raises ConfigError for a monitor that
        such a model does not log (before a fit, not after it)."""
        monitor = self.monitor
        if monitor == "auto":
            monitor = "val_auc" if task == "binary" else "val_loss"
        logged = [f"{prefix}{name}" for prefix in ("val_", "") for name in TASK_METRICS[task]]
        if monitor not in logged:
            raise ConfigError(
                f"training.early_stopping.monitor: a {task} model logs no {monitor!r}; "
                f"monitor one of {', '.join(logged)} (or auto)."
            )
        if self.mode != "auto":
            return monitor, self.mode
        lower = monitor.endswith(("loss", "rmse", "mae"))
        return monitor, "min" if lower else "max"


# The metrics a compiled model of each task logs per epoch (model.layers.compile_model).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("loss", "auc", "pr_auc", "accuracy"),
    "multiclass": ("loss", "accuracy"),
    "regression": ("loss", "rmse", "mae"),
}


class TrainingParams(Params):
    """`training`: the Keras model's shape and how it is fitted."""

    seed: int
    deterministic: bool
    epochs: PositiveInt
    batch_size: PositiveInt
    shuffle_buffer: PositiveInt
    hidden_units: list[PositiveInt]
    dropout: Annotated[float, Field(ge=0, lt=1)]
    l2: Annotated[float, Field(ge=0)]
    batch_norm: bool
    embedding: Embedding
    numeric_embedding: NumericEmbedding
    # Members of the ensemble: k heads on the shared embeddings, each fitted on its own loss,
    # their outputs averaged into the one served prediction; 1: a single network.
    ensemble: PositiveInt
    learning_rate: PositiveFloat
    schedule: Schedule
    early_stopping: EarlyStopping
    # null: unweighted; balanced: inverse class frequency; or {class: weight}.
    class_weight: Literal["balanced"] | dict[int, PositiveFloat] | None
    strategy: Literal[STRATEGIES]  # type: ignore[valid-type]
    mixed_precision: Literal[PRECISIONS]  # type: ignore[valid-type]
    # null: no TensorBoard logs.
    tensorboard_dir: str | None


class Baseline(Params):
    """`evaluation.baseline`: the HistGradientBoosting model beside the network."""

    max_iter: PositiveInt
    learning_rate: PositiveFloat
    max_leaf_nodes: Annotated[int, Field(ge=2)]
    l2_regularization: Annotated[float, Field(ge=0)]
    n_iter_no_change: PositiveInt
    # null: the whole train and validation splits.
    max_train_rows: PositiveInt | None
    seed: int


class EvaluationParams(Params):
    """`evaluation`: scoring the test split (shared with the registry gate) and the baseline."""

    # A fixed binary threshold, or `tuned` (maximum F1 on the validation split); other tasks
    # accept only `tuned`, which they ignore.
    threshold: Literal["tuned"] | Annotated[float, Field(ge=0, le=1)]
    # A tuned threshold giving one class to more than this share of the validation rows (where
    # the labels are not that lopsided) falls back to 0.5; 1.0: never.
    max_predicted_share: Annotated[float, Field(gt=0.5, le=1)]
    slices: list[str]
    min_slice_rows: PositiveInt
    # null: the whole split.
    max_rows: PositiveInt | None
    baseline: Baseline
