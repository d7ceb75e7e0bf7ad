"""Devices for training: GPUs when there are any, a distribution strategy, a precision policy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.params import PRECISIONS, STRATEGIES, TrainingParams

logger = logging.getLogger(__name__)


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """tf.distribute's multi-worker strategy with the `reduce` that Keras 3's `fit` expects.

    Keras 3 (3.15) meets two gaps of the collective strategy's `reduce`: `fit` reduces a whole
    (inputs, labels) batch once to build the model, which MirroredStrategy reduces leaf by leaf
    and the collective one refuses; and each step reduces its scalar losses and metrics with
    `axis=0`, which a 0-d value does not have. Here a structure is reduced leaf by leaf and a
    scalar's mean or sum is taken across the replicas (axis None), which is what Keras means.
    """

    def reduce(self, reduce_op, value, axis=None):  # noqa: ANN001, ANN201 - tf.distribute's API
        """Reduces each leaf of `value` across all replicas of all workers."""
        reduce_leaf = super().reduce

        def leaf(item):  # noqa: ANN001, ANN202
            local = self.experimental_local_results(item)[0]
            rank = getattr(getattr(local, "shape", None), "rank", None)
            return reduce_leaf(reduce_op, item, None if rank == 0 else axis)

        return tf.nest.map_structure(leaf, value)


def choose_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy `name` asks for; `auto` mirrors over GPUs when there are two or more."""
    if name not in STRATEGIES:
        raise ConfigError(f"training.strategy must be one of {STRATEGIES}, not {name!r}.")
    if name == "multi_worker":
        # Workers and this process's task come from the TF_CONFIG environment variable. It must
        # come before anything that starts TensorFlow's runtime (listing logical devices does):
        # collective ops can only be configured at program startup.
        return MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    # Mirrored; without GPUs, over the logical CPUs (how the path is tested on a CPU machine).
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


def choose_precision(name: str) -> str:
    """Returns the Keras dtype policy: `auto` is mixed_float16 on a GPU, float32 otherwise."""
    if name not in PRECISIONS:
        raise ConfigError(f"training.mixed_precision must be one of {PRECISIONS}, not {name!r}.")
    if name == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return name


def configure(
    params: TrainingParams | Mapping[str, Any],
) -> tuple[tf.distribute.Strategy, dict[str, Any]]:
    """Sets the precision policy and returns the strategy with a description of the devices."""
    params = parse(TrainingParams, params, "training")
    policy = choose_precision(params.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    strategy = choose_strategy(params.strategy)
    info = {
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "precision": policy,
    }
    logger.info("Training devices: %s", info)
    return strategy, info
