"""Devices for training: GPUs when there are any, a distribution strategy, a precision policy."""

from __future__ import annotations

import logging
from typing import Any

import keras
import tensorflow as tf

from ml_lifecycle.errors import ConfigError

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def choose_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy `name` asks for; `auto` mirrors over GPUs when there are two or more."""
    if name not in STRATEGIES:
        raise ConfigError(f"training.strategy must be one of {STRATEGIES}, not {name!r}.")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # Without GPUs, mirror over the logical CPUs (how the path is tested on a CPU machine).
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    # Workers and this process's task come from the TF_CONFIG environment variable.
    return tf.distribute.MultiWorkerMirroredStrategy()


def choose_precision(name: str) -> str:
    """Returns the Keras dtype policy: `auto` is mixed_float16 on a GPU, float32 otherwise."""
    if name not in PRECISIONS:
        raise ConfigError(f"training.mixed_precision must be one of {PRECISIONS}, not {name!r}.")
    if name == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return name


def configure(params: dict[str, Any]) -> tuple[tf.distribute.Strategy, dict[str, Any]]:
    """Sets the precision policy and returns the strategy with a description of the devices."""
    policy = choose_precision(params.get("mixed_precision", "auto"))
    keras.mixed_precision.set_global_policy(policy)
    strategy = choose_strategy(params.get("strategy", "auto"))
    info = {
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "precision": policy,
    }
    logger.info("Training devices: %s", info)
    return strategy, info
