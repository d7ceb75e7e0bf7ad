"""The Keras callback that reports a trial's validation metric to Optuna and prunes it."""

from __future__ import annotations

import math

import keras
import optuna


class PruningCallback(keras.callbacks.Callback):
    """Reports `monitor` after each epoch (step = epoch) and stops a trial Optuna prunes."""

    def __init__(self, trial: optuna.Trial, monitor: str):
        super().__init__()
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(
                f"The monitored metric {self.monitor!r} is not among the epoch's logs "
                f"({', '.join(sorted(logs or {}))}): check training.early_stopping.monitor."
            )
        value = float(value)
        if not math.isfinite(value):
            raise optuna.TrialPruned(f"{self.monitor} is {value} at epoch {epoch}")
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: {self.monitor}={value:.4f}")
