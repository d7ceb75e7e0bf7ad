"""Task metrics and plot data from labels and scores (NumPy in, plain JSON-able dicts out)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

MAX_CURVE_POINTS = 200
MAX_RESIDUAL_POINTS = 5000


def tune_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """Returns the score threshold that maximizes F1 (fitted on the validation split)."""
    precision, recall, thresholds = skm.precision_recall_curve(y, score)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    step = max(1, len(arrays[0]) // MAX_CURVE_POINTS)
    return [np.round(a[::step].astype(float), 5).tolist() for a in arrays]


def binary_metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    """Returns ROC-AUC, PR-AUC, thresholded metrics, log loss and Brier of binary scores."""
    predicted = (score >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "rows": len(y),
        "positive_rate": float(np.mean(y)),
        "roc_auc": float(skm.roc_auc_score(y, score)) if both else None,
        "pr_auc": float(skm.average_precision_score(y, score)) if both else None,
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(y, np.clip(score, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, score)),
    }


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Returns accuracy, macro and weighted F1, log loss and a per-class report."""
    labels = list(range(len(class_names)))
    predicted = proba.argmax(axis=1)
    report = skm.classification_report(
        y, predicted, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    return {
        "rows": len(y),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "macro_f1": float(skm.f1_score(y, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(skm.f1_score(y, predicted, average="weighted", zero_division=0)),
        "log_loss": float(skm.log_loss(y, np.clip(proba, 1e-7, 1), labels=labels)),
        "per_class": {name: report[name] for name in class_names},
    }


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Returns RMSE, MAE and R² of regression predictions."""
    return {
        "rows": len(y),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, predicted))),
        "mae": float(skm.mean_absolute_error(y, predicted)),
        "r2": float(skm.r2_score(y, predicted)) if len(y) > 1 else None,
    }


def task_metrics(
    task: str,
    y: np.ndarray,
    score: np.ndarray,
    threshold: float = 0.5,
    class_names: list[str] | None = None,
) -> dict[str, Any]:
    """Returns the metrics of `task` for labels `y` and model output `score`."""
    if task == "binary":
        return binary_metrics(y, score.reshape(-1), threshold)
    if task == "multiclass":
        return multiclass_metrics(y, score, class_names or [])
    return regression_metrics(y, score.reshape(-1))


def plot_data(
    task: str, y: np.ndarray, score: np.ndarray, threshold: float, classes: int
) -> dict[str, Any]:
    """Returns the (thinned) curves and tables the evaluation plots are drawn from."""
    if task == "binary":
        score = score.reshape(-1)
        fpr, tpr, _ = skm.roc_curve(y, score)
        precision, recall, _ = skm.precision_recall_curve(y, score)
        observed, predicted = calibration_curve(y, score, n_bins=10, strategy="quantile")
        matrix = skm.confusion_matrix(y, (score >= threshold).astype(int), labels=[0, 1])
        return {
            "roc": dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True)),
            "pr": dict(zip(("recall", "precision"), _thin(recall, precision), strict=True)),
            "calibration": {"predicted": predicted.tolist(), "observed": observed.tolist()},
            "confusion": matrix.tolist(),
        }
    if task == "multiclass":
        matrix = skm.confusion_matrix(y, score.argmax(axis=1), labels=list(range(classes)))
        return {"confusion": matrix.tolist()}
    step = max(1, len(y) // MAX_RESIDUAL_POINTS)
    return {
        "residuals": {"actual": y[::step].tolist(), "predicted": score[::step].ravel().tolist()}
    }
