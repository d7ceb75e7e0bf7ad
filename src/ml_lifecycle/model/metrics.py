"""Task metrics and plot data from labels and scores (NumPy in, plain JSON-able dicts out)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

MAX_CURVE_POINTS = 200
MAX_RESIDUAL_POINTS = 5000
# Multiclass ROC and PR plots: one line for each of the most frequent test classes, plus micro.
MAX_PLOT_CLASSES = 10
# Probabilities are floored here for the log loss (then renormalised to sum to one).
MIN_PROBABILITY = 1e-7


def tune_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """Returns the score threshold that maximizes F1 (fitted on the validation split)."""
    precision, recall, thresholds = skm.precision_recall_curve(y, score)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def one_class_share(y: np.ndarray, score: np.ndarray, threshold: float) -> tuple[int, float, float]:
    """Returns (class, share of rows given it, share of rows that are it) for the class that
    `score >= threshold` gives to the most rows."""
    predicted = (score >= threshold).astype(int)
    positive = float(np.mean(predicted)) if len(predicted) else 0.0
    label = 1 if positive >= 0.5 else 0
    share = positive if label else 1.0 - positive
    actual = float(np.mean(np.asarray(y) == label)) if len(y) else 0.0
    return label, share, actual


def probabilities(proba: np.ndarray) -> np.ndarray:
    """Returns class probabilities as float64 rows summing to one, each at least MIN_PROBABILITY.

    A model's output (float32 softmax, a GBDT's predict_proba) is off one by rounding; floored
    for the log loss and renormalised, sklearn's metrics get rows that do sum to one.
    """
    values = np.clip(np.asarray(proba, dtype="float64"), MIN_PROBABILITY, 1.0)
    return values / values.sum(axis=1, keepdims=True)


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


def _present(onehot: np.ndarray) -> np.ndarray:
    """Returns the indices of the classes with both positive and negative rows."""
    positives = onehot.sum(axis=0)
    return np.flatnonzero((positives > 0) & (positives < len(onehot)))


def _onehot(y: np.ndarray, classes: int) -> np.ndarray:
    return (np.asarray(y).reshape(-1, 1) == np.arange(classes)).astype(int)


def macro_ovr_roc_auc(y: np.ndarray, proba: np.ndarray) -> float | None:
    """Returns the one-vs-rest ROC-AUC averaged over the classes (None under two classes).

    As sklearn's `roc_auc_score(multi_class="ovr", average="macro")`, over the classes present in
    `y` (a slice may lack some).
    """
    onehot = _onehot(y, proba.shape[1])
    present = _present(onehot)
    if len(present) < 2:
        return None
    return float(skm.roc_auc_score(onehot[:, present], proba[:, present], average="macro"))


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Returns accuracy, macro and weighted F1, OvR ROC-AUC, log loss and a per-class report."""
    labels = list(range(len(class_names)))
    proba = probabilities(proba)
    predicted = proba.argmax(axis=1)
    report = skm.classification_report(
        y, predicted, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    return {
        "rows": len(y),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "macro_f1": float(skm.f1_score(y, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(skm.f1_score(y, predicted, average="weighted", zero_division=0)),
        "roc_auc_ovr": macro_ovr_roc_auc(y, proba),
        "log_loss": float(skm.log_loss(y, proba, labels=labels)),
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


def multiclass_plot_data(
    y: np.ndarray, proba: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """Returns the confusion matrix, one-vs-rest ROC and PR curves and micro calibration.

    Curves: one per class for the MAX_PLOT_CLASSES most frequent test classes (with both positive
    and negative rows), in that order, plus the micro-average over every (row, class) pair;
    calibration: every class's predicted probability against how often it is the class.
    """
    proba = probabilities(proba)
    classes = proba.shape[1]
    names = class_names or [str(i) for i in range(classes)]
    onehot = _onehot(y, classes)
    present = _present(onehot)
    counts = onehot.sum(axis=0)
    drawn = sorted(present.tolist(), key=lambda c: (-counts[c], c))[:MAX_PLOT_CLASSES]
    roc, pr = {}, {}
    for c in drawn:
        fpr, tpr, _ = skm.roc_curve(onehot[:, c], proba[:, c])
        precision, recall, _ = skm.precision_recall_curve(onehot[:, c], proba[:, c])
        roc[names[c]] = {
            **dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True)),
            "auc": float(skm.roc_auc_score(onehot[:, c], proba[:, c])),
        }
        pr[names[c]] = {
            **dict(zip(("recall", "precision"), _thin(recall, precision), strict=True)),
            "auc": float(skm.average_precision_score(onehot[:, c], proba[:, c])),
        }
    flat_y, flat_p = onehot.ravel(), proba.ravel()
    fpr, tpr, _ = skm.roc_curve(flat_y, flat_p)
    precision, recall, _ = skm.precision_recall_curve(flat_y, flat_p)
    observed, predicted = calibration_curve(flat_y, flat_p, n_bins=10, strategy="uniform")
    matrix = skm.confusion_matrix(y, proba.argmax(axis=1), labels=list(range(classes)))
    return {
        "confusion": matrix.tolist(),
        "roc": {
            "classes": roc,
            "micro": {
                **dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True)),
                "auc": float(skm.auc(fpr, tpr)),
            },
        },
        "pr": {
            "classes": pr,
            "micro": {
                **dict(zip(("recall", "precision"), _thin(recall, precision), strict=True)),
                "auc": float(skm.average_precision_score(flat_y, flat_p)),
            },
        },
        "calibration": {"predicted": predicted.tolist(), "observed": observed.tolist()},
    }


def plot_data(
    task: str,
    y: np.ndarray,
    score: np.ndarray,
    threshold: float,
    class_names: list[str] | None = None,
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
        return multiclass_plot_data(y, score, class_names or [])
    step = max(1, len(y) // MAX_RESIDUAL_POINTS)
    return {
        "residuals": {"actual": y[::step].tolist(), "predicted": score[::step].ravel().tolist()}
    }
