"""Evaluation nodes: the model and a gradient-boosted baseline on the same test split.

Scores are computed batch by batch from the Parquet shards; only labels, scores and slice values
of the (capped) test split are held, never the features of a whole split.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import matplotlib
import numpy as np
import pandas as pd
import pyarrow.dataset as pads
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from ml_lifecycle.core.columns import LABEL
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.inputs import arrow_to_numpy, iterate_batches
from ml_lifecycle.model.layers import input_spec
from ml_lifecycle.model.scoring import BATCH, check_threshold, keras_predictor, score_and_evaluate
from ml_lifecycle.pipelines.evaluation.params import EvaluationParams
from ml_lifecycle.pipelines.monitoring.params import MonitoringParams

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

logger = logging.getLogger(__name__)

# HistGradientBoosting's native categorical support takes at most 255 bins: the 254 most frequent
# training values keep their own code, the rest share one.
BASELINE_MAX_CATEGORIES = 254


def evaluate_model(
    model: keras.Model,
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Returns the model's test metrics, per-slice metrics and plot data."""
    params = parse(EvaluationParams, params, "evaluation")
    result = score_and_evaluate(keras_predictor(model), validation, test, statistics, params)
    logger.info("Model on the test split: %s", _headline(result["metrics"]))
    return result


def _baseline_matrix(
    columns: dict[str, np.ndarray], statistics: dict[str, Any], spec: dict[str, str]
) -> np.ndarray:
    parts = []
    for name, dtype in spec.items():
        values = columns[name].reshape(-1)
        if name in statistics["numeric"]:
            parts.append(values.astype("float64"))
            continue
        vocabulary = statistics["categorical"][name]["vocabulary"][:BASELINE_MAX_CATEGORIES]
        codes = {(v if dtype == "string" else int(v)): i for i, v in enumerate(vocabulary)}
        series = pd.Series(values)
        mapped = series.map(codes).fillna(len(codes))  # unseen values share the last code
        mapped[series == ("" if dtype == "string" else -1)] = np.nan  # missing stays missing
        parts.append(mapped.to_numpy("float64"))
    return np.column_stack(parts)


def _baseline_data(
    data: pads.Dataset, statistics: dict[str, Any], spec: dict[str, str], rows: int | None
) -> tuple[np.ndarray, np.ndarray]:
    # Shards hold rows in a hashed order, so the first `rows` rows are a random sample.
    table = data.head(rows, columns=[*spec, LABEL]) if rows else data.to_table([*spec, LABEL])
    columns = {name: arrow_to_numpy(table.column(name), dtype) for name, dtype in spec.items()}
    return _baseline_matrix(columns, statistics, spec), table.column(LABEL).to_numpy()


def evaluate_baseline(
    train: pads.Dataset,
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Returns the metrics of a HistGradientBoosting baseline fitted on the same split."""
    params = parse(EvaluationParams, params, "evaluation")
    settings = params.baseline
    task, spec = statistics["task"], input_spec(statistics)
    check_threshold(task, params)  # before the fit, not after it
    x_train, y_train = _baseline_data(train, statistics, spec, settings.max_train_rows)
    x_val, y_val = _baseline_data(validation, statistics, spec, settings.max_train_rows)
    categorical = [name in statistics["categorical"] for name in spec]
    estimator = (
        HistGradientBoostingRegressor if task == "regression" else (HistGradientBoostingClassifier)
    )
    model = estimator(
        max_iter=settings.max_iter,
        learning_rate=settings.learning_rate,
        max_leaf_nodes=settings.max_leaf_nodes,
        l2_regularization=settings.l2_regularization,
        categorical_features=categorical,
        early_stopping=True,
        n_iter_no_change=settings.n_iter_no_change,
        random_state=settings.seed,
    )
    # Early stopping watches the same validation split as the Keras model's.
    start = time.perf_counter()
    model.fit(x_train, y_train, X_val=x_val, y_val=y_val)
    fit_seconds = round(time.perf_counter() - start, 3)

    def predict(inputs: dict[str, np.ndarray]) -> np.ndarray:
        matrix = _baseline_matrix(inputs, statistics, spec)
        if task == "binary":
            return model.predict_proba(matrix)[:, 1]
        return model.predict_proba(matrix) if task == "multiclass" else model.predict(matrix)

    result = score_and_evaluate(predict, validation, test, statistics, params)
    result["fit"] = {
        "estimator": type(model).__name__,
        "train_rows": len(y_train),
        "validation_rows": len(y_val),
        **_iterations(int(model.n_iter_), settings.max_iter),
        "fit_seconds": fit_seconds,
        "categorical_features": [n for n, c in zip(spec, categorical, strict=True) if c],
    }
    fit = result["fit"]
    logger.info(
        "Baseline (%s, %s of max_iter %s iterations, %s) on the test split: %s",
        fit["estimator"],
        fit["iterations"],
        fit["max_iter"],
        "stopped early on the validation split" if fit["stopped_early"] else "hit max_iter",
        _headline(result["metrics"]),
    )
    if not fit["stopped_early"]:
        logger.warning(
            "evaluation: the baseline ran all %s iterations without early stopping; raise "
            "evaluation.baseline.max_iter so it is not cut short.",
            fit["max_iter"],
        )
    return result


def _iterations(ran: int, max_iter: int) -> dict[str, Any]:
    """Returns the iterations the baseline ran beside max_iter, and whether it stopped early.

    Early stopping ends the fit once `n_iter_no_change` iterations have not improved the
    validation loss, so a fit that ran all of max_iter was cut short by the cap instead.
    """
    return {"iterations": ran, "max_iter": max_iter, "stopped_early": ran < max_iter}


def _headline(metrics: dict[str, Any]) -> str:
    keys = ("roc_auc", "pr_auc", "f1", "accuracy", "macro_f1", "rmse", "mae", "r2")
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys if metrics.get(k) is not None)


def report_metrics(
    model_evaluation: dict[str, Any], baseline_evaluation: dict[str, Any]
) -> dict[str, Any]:
    """Returns metrics.json: model and baseline test metrics side by side, and slices."""
    return {
        "model": model_evaluation["metrics"],
        "baseline": {**baseline_evaluation["metrics"], "fit": baseline_evaluation["fit"]},
        "slices": {"model": model_evaluation["slices"], "baseline": baseline_evaluation["slices"]},
    }


def plot_evaluation(
    model_evaluation: dict[str, Any],
    baseline_evaluation: dict[str, Any],
    history: dict[str, Any],
    statistics: dict[str, Any],
) -> dict[str, plt.Figure]:
    """Returns the evaluation figures by name (confusion, ROC, PR, calibration, curves, ...)."""
    data, base = model_evaluation["plot_data"], baseline_evaluation["plot_data"]
    figures = {"training_curves": _training_curves(history)}
    if "confusion" in data:
        names = statistics.get("class_names") or [str(i) for i in range(len(data["confusion"]))]
        figures["confusion_matrix"] = _confusion(data["confusion"], names, data.get("threshold"))
    if "roc" in data and statistics["task"] == "multiclass":
        figures.update(_multiclass_curves(data, base))
    elif "roc" in data:
        figures["roc_curve"] = _curve(
            "ROC (test split)", "false positive rate", "true positive rate",
            {"model": (data["roc"]["fpr"], data["roc"]["tpr"]),
             "baseline": (base["roc"]["fpr"], base["roc"]["tpr"])},
            diagonal=True,
        )  # fmt: skip
        figures["pr_curve"] = _curve(
            "Precision-recall (test split)", "recall", "precision",
            {"model": (data["pr"]["recall"], data["pr"]["precision"]),
             "baseline": (base["pr"]["recall"], base["pr"]["precision"])},
        )  # fmt: skip
        figures["calibration"] = _curve(
            "Calibration (test split, deciles)", "mean predicted probability", "observed rate",
            {"model": (data["calibration"]["predicted"], data["calibration"]["observed"]),
             "baseline": (base["calibration"]["predicted"], base["calibration"]["observed"])},
            diagonal=True, marker="o",
        )  # fmt: skip
    if "residuals" in data:
        figures["residuals"] = _residuals(data["residuals"])
    for figure in figures.values():
        figure.tight_layout()
    return {f"{name}.png": figure for name, figure in figures.items()}


def _curve(title, xlabel, ylabel, series, diagonal=False, marker=None) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5, 4.5))
    for name, (x, y) in series.items():
        axis.plot(x, y, label=name, marker=marker)
    if diagonal:
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axis.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axis.legend()
    return figure


def _multiclass_curves(data: dict[str, Any], base: dict[str, Any]) -> dict[str, plt.Figure]:
    """One-vs-rest ROC and PR (a line per drawn class, the model's and the baseline's
    micro-averages) and the micro-averaged calibration of both."""
    figures = {}
    for name, (curve, x, y, xlabel, ylabel, title) in {
        "roc_curve": ("roc", "fpr", "tpr", "false positive rate", "true positive rate", "ROC"),
        "pr_curve": ("pr", "recall", "precision", "recall", "precision", "Precision-recall"),
    }.items():
        score = "AUC" if curve == "roc" else "PR-AUC"
        series = {
            f"{label} ({score} {line['auc']:.3f})": (line[x], line[y])
            for label, line in data[curve]["classes"].items()
        }
        micro, base_micro = data[curve]["micro"], base[curve]["micro"]
        series[f"micro-average ({score} {micro['auc']:.3f})"] = (micro[x], micro[y])
        series[f"baseline micro-average ({score} {base_micro['auc']:.3f})"] = (
            base_micro[x],
            base_micro[y],
        )
        figure = _curve(
            f"{title}, one vs rest (test split)", xlabel, ylabel, series, diagonal=curve == "roc"
        )
        lines = figure.axes[0].lines
        lines[len(series) - 2].set(color="black", linewidth=2.5)  # the model's micro-average
        lines[len(series) - 1].set(color="grey", linewidth=2, linestyle="--")
        figure.axes[0].legend(fontsize="small")
        figures[name] = figure
    figures["calibration"] = _curve(
        "Calibration (test split, micro over classes)", "mean predicted probability",
        "observed frequency",
        {"model": (data["calibration"]["predicted"], data["calibration"]["observed"]),
         "baseline": (base["calibration"]["predicted"], base["calibration"]["observed"])},
        diagonal=True, marker="o",
    )  # fmt: skip
    return figures


def _confusion(
    matrix: list[list[int]], names: list[str], threshold: dict[str, Any] | None = None
) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(4.5, 4))
    values = np.asarray(matrix)
    axis.imshow(values, cmap="Blues")
    for (i, j), n in np.ndenumerate(values):
        axis.text(j, i, f"{n:,}", ha="center", va="center")
    title = "Confusion matrix (test split)"
    if threshold is not None:  # binary: at the threshold used
        fallback = f", tuned {threshold['tuned']:.3f} refused" if threshold["fallback"] else ""
        title += f"\nthreshold {threshold['threshold']:.3f}{fallback}"
    axis.set(
        title=title,
        xlabel="predicted",
        ylabel="actual",
        xticks=range(len(names)),
        yticks=range(len(names)),
        xticklabels=names,
        yticklabels=names,
    )
    return figure


def _training_curves(history: dict[str, Any]) -> plt.Figure:
    curves = history["history"]
    names = [k for k in curves if not k.startswith("val_") and f"val_{k}" in curves]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(curves[name]) + 1)
        axis.plot(epochs, curves[name], label="train")
        axis.plot(epochs, curves[f"val_{name}"], label="validation")
        axis.set(title=name, xlabel="epoch")
        axis.legend()
    return figure


def _residuals(data: dict[str, list[float]]) -> plt.Figure:
    figure, axis = plt.subplots(figsize=(5, 4.5))
    actual, predicted = np.asarray(data["actual"]), np.asarray(data["predicted"])
    axis.scatter(predicted, actual - predicted, s=4, alpha=0.3)
    axis.axhline(0, color="grey", linestyle=":")
    axis.set(title="Residuals (test split)", xlabel="predicted", ylabel="actual - predicted")
    return figure


def _prediction_values(task: str, scores: np.ndarray, class_names: list[str]) -> np.ndarray:
    if task == "multiclass":
        return np.asarray(class_names, dtype=object)[np.argmax(scores, axis=1)]
    return np.asarray(scores, dtype="float64").reshape(len(scores), -1)[:, 0]


def profile_predictions(
    model: keras.Model,
    train: pads.Dataset,
    validation: pads.Dataset,
    test: pads.Dataset,
    statistics: dict[str, Any],
    monitoring: dict[str, Any],
) -> dict[str, Any]:
    """Returns the drift reference of the model's output over every split, as a profile.

    Binary and regression: the score binned at the validation split's quantiles; multiclass: the
    predicted class. Streamed batch by batch: only the counts are kept. `monitoring` compares the
    champion's scores on a new batch with this (ml_lifecycle.core.drift).
    """
    task, spec, names = statistics["task"], input_spec(statistics), statistics.get("class_names")
    predict = keras_predictor(model)
    bins = parse(MonitoringParams, monitoring, "monitoring").bins

    def predictions(data: pads.Dataset):
        for inputs, _, _ in iterate_batches(data, spec, task, BATCH):
            yield _prediction_values(task, predict(inputs), names or [])

    if task == "multiclass":
        counts = dict.fromkeys(names, 0)
        for values in (v for split in (train, validation, test) for v in predictions(split)):
            for name, n in zip(*np.unique(values, return_counts=True), strict=True):
                counts[str(name)] += int(n)
        column = {"kind": "categorical", "counts": counts, "other": 0, "missing": 0}
    else:
        reference = np.concatenate(list(predictions(validation)))
        quantiles = np.quantile(reference, [i / bins for i in range(1, bins)])
        edges = sorted({float(q) for q in quantiles})
        counts = np.zeros(len(edges) + 1, dtype="int64")
        missing = 0
        for values in (v for split in (train, validation, test) for v in predictions(split)):
            finite = np.isfinite(values)
            missing += int((~finite).sum())
            counts += np.bincount(
                np.searchsorted(edges, values[finite], side="right"), minlength=len(counts)
            )
        column = {"kind": "numeric", "edges": edges, "counts": counts.tolist(), "missing": missing}
    rows = sum(column["counts"].values()) if task == "multiclass" else int(counts.sum())
    return {"rows": rows + column["missing"], "columns": {"prediction": column}}
