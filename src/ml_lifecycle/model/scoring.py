"""Scoring a raw-in model on Parquet splits: test metrics, slices, plot data.

Shared by evaluation (the new model) and the registry gate (the champion re-scored on the same
rows), so both judge a model with the same code and settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import pyarrow.dataset as pads

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.inputs import iterate_batches
from ml_lifecycle.model.layers import input_spec
from ml_lifecycle.model.metrics import one_class_share, plot_data, task_metrics, tune_threshold
from ml_lifecycle.model.params import EvaluationParams

BATCH = 8192
# The binary threshold used when the tuned one gives (nearly) every row one class.
FALLBACK_THRESHOLD = 0.5

logger = logging.getLogger(__name__)


def _score_split(
    predict: Callable[[dict[str, np.ndarray]], np.ndarray],
    data: pads.Dataset,
    spec: dict[str, str],
    task: str,
    max_rows: int | None,
    extra: tuple[str, ...] = (),
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    labels, scores, extras = [], [], {name: [] for name in extra}
    for inputs, y, batch_extras in iterate_batches(
        data, spec, task, BATCH, extra_columns=extra, max_rows=max_rows
    ):
        for name in extra:
            extras[name].append(batch_extras[name])
        labels.append(y)
        scores.append(predict(inputs))
    if not labels:
        raise ConfigError("evaluation: the split to score is empty; check features.split.")
    return (
        np.concatenate(labels),
        np.concatenate(scores),
        {name: np.concatenate(v) for name, v in extras.items()},
    )


def check_threshold(task: str, params: EvaluationParams) -> None:
    """Refuses a fixed `evaluation.threshold` for a task without one (multiclass, regression)."""
    if task != "binary" and params.threshold != "tuned":
        raise ConfigError(
            f"evaluation.threshold is {params.threshold}, but a {task} task has no decision "
            "threshold: set it to `tuned` (base's value, which only binary tasks use)."
        )


def choose_threshold(
    task: str, params: EvaluationParams, y_val: np.ndarray, s_val: np.ndarray
) -> dict[str, Any]:
    """Returns the binary threshold used on the test split, from the validation split.

    `{"threshold": used, "tuned": the maximum-F1 one (None when fixed), "fallback": bool}`;
    a tuned threshold that gives one class to more than `max_predicted_share` of the validation
    rows (unless the labels are as lopsided) is refused with a warning, FALLBACK_THRESHOLD used.
    """
    check_threshold(task, params)
    if task != "binary":
        return {"threshold": FALLBACK_THRESHOLD, "tuned": None, "fallback": False}
    if params.threshold != "tuned":
        return {"threshold": float(params.threshold), "tuned": None, "fallback": False}
    scores = s_val.reshape(-1)
    tuned = tune_threshold(y_val, scores)
    label, share, actual = one_class_share(y_val, scores, tuned)
    bound = params.max_predicted_share
    if share > bound and actual <= bound:
        logger.warning(
            "evaluation: the tuned threshold %.4f labels %.1f%% of the validation rows %s (%.1f%% "
            "are), over evaluation.max_predicted_share %s, so %s is used instead.",
            tuned,
            100 * share,
            "positive" if label else "negative",
            100 * actual,
            bound,
            FALLBACK_THRESHOLD,
        )
        return {"threshold": FALLBACK_THRESHOLD, "tuned": tuned, "fallback": True}
    return {"threshold": tuned, "tuned": tuned, "fallback": False}


def _slices(
    task: str,
    y: np.ndarray,
    score: np.ndarray,
    values: dict[str, np.ndarray],
    threshold: float,
    statistics: dict[str, Any],
    min_rows: int,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for column, column_values in values.items():
        out[column] = {}
        as_text = np.asarray(column_values).astype(str)
        for value in np.unique(as_text).tolist():
            mask = as_text == value
            if mask.sum() < min_rows:
                continue
            out[column][value] = task_metrics(
                task, y[mask], score[mask], threshold, statistics.get("class_names")
            )
    return out


def score_and_evaluate(
    predict: Callable[[dict[str, np.ndarray]], np.ndarray],
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    params: EvaluationParams | Mapping[str, Any],
) -> dict[str, Any]:
    """Returns test metrics, slices and plot data of `predict` (threshold from validation)."""
    params = parse(EvaluationParams, params, "evaluation")
    task, spec = statistics["task"], input_spec(statistics)
    check_threshold(task, params)
    max_rows = params.max_rows
    slices = tuple(params.slices)
    missing = [s for s in slices if s not in test.schema.names]
    if missing:
        raise ConfigError(
            f"evaluation.slices: {missing} are not in the model input; add them to "
            "features.passthrough (or use feature columns)."
        )
    y_val, s_val, _ = _score_split(predict, validation, spec, task, max_rows)
    chosen = choose_threshold(task, params, y_val, s_val)
    threshold, names = chosen["threshold"], statistics.get("class_names")
    y, score, values = _score_split(predict, test, spec, task, max_rows, slices)
    metrics = task_metrics(task, y, score, threshold, names)
    data = plot_data(task, y, score, threshold, names)
    if task == "binary":  # the threshold used (in `threshold`), the tuned one, whether refused
        metrics.update(threshold_tuned=chosen["tuned"], threshold_fallback=chosen["fallback"])
        data["threshold"] = chosen
    return {
        "metrics": metrics,
        "slices": _slices(task, y, score, values, threshold, statistics, params.min_slice_rows),
        "plot_data": data,
    }


def keras_predictor(model: keras.Model) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """Returns `predict(raw input batch) -> scores` for a raw-in Keras model."""

    def predict(inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(model.predict_on_batch(inputs))

    return predict
