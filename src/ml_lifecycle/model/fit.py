"""Fitting the configured Keras model on the train and validation splits: training and tuning.

`fit` is the one way the project fits a model: the training node calls it once with the run's
`training` block, each trial of the `tune` pipeline calls it with the trial's block and a pruning
callback. It returns the model (best validation epoch), the per-epoch history and a summary.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import pyarrow.dataset as pads
import tensorflow as tf

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.model.devices import configure
from ml_lifecycle.model.inputs import count_rows, make_dataset, training_inputs
from ml_lifecycle.model.layers import build_model, compile_model
from ml_lifecycle.model.params import TrainingParams

logger = logging.getLogger(__name__)


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time (training and validation)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(round(time.perf_counter() - self._start, 3))


def _learning_rate(params: TrainingParams, steps_per_epoch: int, epochs: int):
    schedule, rate = params.schedule, params.learning_rate
    if schedule.name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=max(1, steps_per_epoch * epochs), alpha=schedule.alpha
        )
    if schedule.name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=max(1, steps_per_epoch), decay_rate=schedule.rate
        )
    return rate


def _class_weight(params: TrainingParams, statistics: dict[str, Any]) -> dict[int, float] | None:
    setting = params.class_weight
    if not setting or statistics["task"] == "regression":
        return None
    if setting == "balanced":
        counts = statistics["label"]["class_counts"]
        total, classes = sum(counts.values()), len(counts)
        return {int(k): total / (classes * n) for k, n in counts.items()}
    return {int(k): float(v) for k, v in setting.items()}


def _callbacks(params: TrainingParams, task: str, checkpoint: Path, timer: EpochTimer) -> list:
    stopping = params.early_stopping
    monitor, mode = stopping.resolved(task)
    callbacks = [
        timer,
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=stopping.patience,
            restore_best_weights=True,
        ),
        # The best weights on disk too: a crash late in training keeps the best epoch so far.
        keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True
        ),
    ]
    schedule = params.schedule
    if schedule.name == "reduce_on_plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=schedule.factor, patience=schedule.patience
            )
        )
    if params.tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=params.tensorboard_dir))
    return callbacks


def fit(  # noqa: PLR0914 - one fit, start to end
    train: pads.Dataset,
    validation: pads.Dataset,
    statistics: dict[str, Any],
    params: TrainingParams,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[keras.Model, dict[str, list[float]], dict[str, Any]]:
    """Returns (raw-in model with the best validation epoch's weights, history, summary).

    `callbacks` run after the project's own (timer, early stopping, checkpoint, schedule):
    a tuning trial's pruning callback sees each epoch's logs and may stop the fit by raising.
    """
    seed = params.seed
    keras.utils.set_random_seed(seed)
    if params.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy, devices = configure(params)
    spec, lookups = training_inputs(statistics)
    task = statistics["task"]
    monitor, mode = params.early_stopping.resolved(task)
    batch_size = params.batch_size * devices["replicas"]
    epochs = params.epochs
    train_rows = count_rows(train)
    steps = math.ceil(train_rows / batch_size)
    train_data = make_dataset(
        train,
        spec,
        task,
        batch_size,
        shuffle_buffer=params.shuffle_buffer,
        seed=seed,
        lookups=lookups,
    )
    validation_data = make_dataset(validation, spec, task, batch_size, lookups=lookups)
    validation_steps = math.ceil(count_rows(validation) / batch_size)
    if not steps or not validation_steps:
        raise ConfigError("training: the train or validation split is empty; check features.split.")
    with strategy.scope():
        model, twin = build_model(statistics, params)
        optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(params, steps, epochs))
        compile_model(twin, task, optimizer, members=params.ensemble)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "best.weights.h5"
        # Each repetition re-runs the generator: a new shard order and shuffle per epoch.
        fitted = twin.fit(
            train_data.repeat(),
            steps_per_epoch=steps,
            validation_data=validation_data.repeat(),
            validation_steps=validation_steps,
            epochs=epochs,
            callbacks=[*_callbacks(params, task, checkpoint, timer), *callbacks],
            class_weight=_class_weight(params, statistics),
            verbose=2,
        )
        if checkpoint.exists():
            twin.load_weights(checkpoint)  # the raw-in model shares these weights
    history = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    pick = max if mode == "max" else min
    best_epoch = pick(range(len(history[monitor])), key=history[monitor].__getitem__)
    total = sum(timer.seconds)
    summary = {
        "epochs_run": len(timer.seconds),
        "best_epoch": best_epoch + 1,
        "monitor": monitor,
        "best_value": history[monitor][best_epoch],
        "train_rows": train_rows,
        "validation_rows": count_rows(validation),
        "batch_size": batch_size,
        "epoch_seconds": timer.seconds,
        "examples_per_second": round(train_rows * len(timer.seconds) / total, 1) if total else None,
        "parameters": int(model.count_params()),
        "devices": devices,
    }
    logger.info(
        "Trained %s epochs (best %s: %s=%.4f), %.1f s/epoch on %s",
        summary["epochs_run"],
        summary["best_epoch"],
        monitor,
        summary["best_value"],
        total / max(1, len(timer.seconds)),
        devices["strategy"],
    )
    return model, history, summary
