"""Monitoring nodes: the champion's reference, drift distances, the metric on labelled rows.

The reference is not recomputed from whatever data is on disk: it is the pair of profiles logged
by the run that trained the champion (`monitoring/reference_profile.json`, features over every
split, and `monitoring/prediction_profile.json`, the model's output), which the champion's
catalog dataset brings along. The batch is binned on the reference's own edges in Spark; only
counts reach the driver.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import matplotlib
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_lifecycle.core import drift
from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.core.spark import checked_expr, col
from ml_lifecycle.pipelines.monitoring.params import MonitoringParams, Performance

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
# The champion's artifacts (inference.champion in the catalog) its reference is made of.
REFERENCES = ("reference_profile", "prediction_profile")
METRICS = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
# The drift plot's left edge: a distance under 0.1% of its threshold is drawn at it.
PLOT_FLOOR = 1e-3


def champion_reference(champion: dict[str, Any]) -> dict[str, Any]:
    """Returns the champion's drift reference: the profiles its training run logged."""
    artifacts = champion.get("artifacts") or {}
    profiles = {}
    for key in REFERENCES:
        if artifacts.get(key) is None:
            raise ConfigError(
                f"monitoring: the champion {champion['model_name']} "
                f"v{champion['model_version']} (run {champion['model_run_id']}) has no "
                f"monitoring/{key}.json: it was trained by a run without the features and "
                "evaluation pipelines. Train and register it with `kedro run` (or `--pipelines "
                "iterate`) first."
            )
        profiles[key.split("_", 1)[0]] = artifacts[key]
    columns = dict(profiles["reference"]["columns"])
    columns[PREDICTION] = profiles["prediction"]["columns"][PREDICTION]
    return {
        "model": {
            "name": champion["model_name"],
            "version": champion["model_version"],
            "run_id": champion["model_run_id"],
        },
        "rows": profiles["reference"]["rows"],
        "prediction_rows": profiles["prediction"]["rows"],
        "columns": columns,
    }


def _thresholds(name: str, params: MonitoringParams) -> dict[str, float | None]:
    """Returns the default thresholds with the keys `name`'s own entry sets replacing theirs."""
    column = params.thresholds.columns.get(name)
    return {
        **params.thresholds.default.model_dump(exclude_unset=True),
        **({} if column is None else column.model_dump(exclude_unset=True)),
    }


def _batch_quarantine(stages: tuple[dict[str, Any], ...], params: MonitoringParams) -> dict:
    """Returns what the batch lost before scoring: rows in, scored, quarantined by reason."""
    limit = params.quarantine.max_share
    rows_in = int(stages[0]["in"])
    by_reason: dict[str, int] = {}
    for stage in stages:
        for reason, n in (stage.get("quarantined_by_reason") or {}).items():
            by_reason[reason] = by_reason.get(reason, 0) + int(n)
    quarantined = sum(int(stage["quarantined"]) for stage in stages)
    share = quarantined / rows_in if rows_in else 0.0
    summary = {
        "in": rows_in,
        "scored": int(stages[-1].get("scored", stages[-1]["kept"])),
        "quarantined": quarantined,
        "share": share,
        "by_reason": by_reason,
        "max_share": limit,
        "over": share > limit,
    }
    if summary["over"]:
        logger.warning(
            "%.2f%% of the batch (%s of %s rows) was quarantined before scoring, over %s: %s. "
            "Drift and performance describe only the rows that were scored.",
            100 * share,
            quarantined,
            rows_in,
            limit,
            ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items(), key=lambda x: -x[1])),
        )
    return summary


def measure_drift(
    reference: dict[str, Any],
    batch: DataFrame,
    predictions: DataFrame,
    params: MonitoringParams | dict[str, Any],
    *accounting: dict[str, Any],
) -> dict[str, Any]:
    """Returns every monitored column's distances, thresholds and verdict, for a report.

    Features come from the cleaned batch, `prediction` from the champion's scores of it.
    `accounting`: the batch's row accounting sections in stage order (ingestion, cleaning,
    scoring), so the report also says how much of the batch never reached the comparison.
    """
    params = parse(MonitoringParams, params, "monitoring")
    specs = reference["columns"]
    features = [c for c in specs if c != PREDICTION]
    missing = sorted(set(features) - set(batch.columns))
    if missing:
        raise ConfigError(
            f"monitoring: the batch has no {missing}, which the champion's reference describes; "
            "the batch must be in the training data's landing format."
        )
    max_values = params.max_categories
    numeric = [c for c in features if specs[c]["kind"] == "numeric"]
    batch_profile = drift.profile(
        batch,
        numeric=numeric,
        categorical=[c for c in features if specs[c]["kind"] == "categorical"],
        edges={c: specs[c]["edges"] for c in numeric},
        max_values=max_values,
    )
    current = batch_profile["columns"]
    if specs[PREDICTION]["kind"] == "numeric":
        current |= drift.numeric_profiles(predictions, {PREDICTION: specs[PREDICTION]["edges"]})
    else:
        current[PREDICTION] = drift.categorical_profile(predictions, PREDICTION, max_values)

    significance = params.significance
    columns, thresholds, over, noise = {}, {}, {}, {}
    for name, spec in specs.items():
        distances = drift.compare_column(spec, current[name])
        thresholds[name] = _thresholds(name, params)
        past = drift.over_thresholds(distances, thresholds[name])
        # Past a threshold, but a batch drawn from the reference itself would often be as far.
        sampling = bool(past) and significance is not None and distances["p_value"] >= significance
        columns[name] = {
            **distances,
            "over": [] if sampling else past,
            "within_noise": past if sampling else [],
        }
        if sampling:
            noise[name] = past
        elif past:
            over[name] = past
    rows = batch_profile["rows"]
    report = {
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": reference["model"],
        "reference_rows": reference["rows"],
        "batch_rows": rows,
        "significance": significance,
        "columns": columns,
        "thresholds": thresholds,
        "over": over,
        "over_count": len(over),
        "within_noise": noise,
    }
    if accounting:
        report["quarantine"] = _batch_quarantine(accounting, params)
    if noise:
        logger.info(
            "Past a threshold but within sampling noise (G-test p >= %s), not drift: %s",
            significance,
            "; ".join(
                f"{c}: {', '.join(r)} (p={columns[c]['p_value']:.3f})" for c, r in noise.items()
            ),
        )
    if over:
        logger.warning(
            "Drift over threshold in %s of %s columns: %s",
            len(over),
            len(columns),
            "; ".join(f"{c}: {', '.join(r)}" for c, r in over.items()),
        )
    else:
        logger.info("No drift over threshold in %s columns (batch of %s rows)", len(columns), rows)
    return report


def measure_performance(
    batch: DataFrame,
    predictions: DataFrame,
    champion: dict[str, Any],
    features: dict[str, Any],
    keys: list[str],
    params: Performance | dict[str, Any],
) -> dict[str, Any]:
    """Returns the champion's metric on the batch's labelled rows (none: `value` is null).

    `params`: the `monitoring.performance` block.
    """
    params = parse(Performance, params, "monitoring.performance")
    task = features["task"]
    metric = METRICS[task]
    try:
        label = checked_expr(batch, features["label"], "features.label")
    except ConfigError:
        label = None  # the batch lacks the columns the label is made of: not labelled
    result: dict[str, Any] = {
        "metric": metric,
        "model": {"name": champion["model_name"], "version": champion["model_version"]},
        "labelled_rows": 0,
        "value": None,
    }
    if label is None:
        logger.info("Batch performance: the batch has no label columns")
        return result
    labelled = (
        batch.select(*[col(k) for k in keys], label.alias("_label"))
        .filter(F.col("_label").isNotNull())
        .join(predictions.select(*[col(k) for k in keys], col(PREDICTION)), on=keys, how="inner")
    )
    labelled = labelled.filter(F.col(PREDICTION).isNotNull())
    rows = labelled.count()
    result["labelled_rows"] = int(rows)
    if rows < params.min_labelled_rows:
        logger.info("Batch performance: %s labelled rows, too few to measure %s", rows, metric)
        return result
    if task == "binary":
        value = BinaryClassificationEvaluator(
            rawPredictionCol=PREDICTION, labelCol="_label", metricName="areaUnderROC"
        ).evaluate(labelled.withColumn("_label", F.col("_label").cast("double")))
    elif task == "multiclass":
        names = features.get("class_names") or []
        truth = F.element_at(F.array(*[F.lit(n) for n in names]), F.col("_label").cast("int") + 1)
        value = labelled.agg(F.avg((truth == F.col(PREDICTION)).cast("double"))).first()[0]
    else:
        error = F.col(PREDICTION) - F.col("_label").cast("double")
        value = labelled.agg(F.sqrt(F.avg(error * error))).first()[0]
    result["value"] = float(value)
    logger.info("Batch performance: %s %.4f on %s labelled rows", metric, value, rows)
    return result


def plot_drift(report: dict[str, Any]) -> plt.Figure:
    """Returns one bar per column: its largest distance as a share of that distance's threshold."""
    names, ratios, labels = [], [], []
    for name, column in report["columns"].items():
        best = max(
            (
                (column[m] / float(limit), m)
                for m, limit in report["thresholds"][name].items()
                if m in column and limit
            ),
            default=(0.0, "-"),
        )
        names.append(name)
        ratios.append(best[0])
        label = f"{best[1]} {column.get(best[1], 0.0):.4f}" if best[1] != "-" else ""
        if column.get("within_noise"):
            label += f", within noise (p={column['p_value']:.2f})"
        labels.append(label)
    order = sorted(range(len(names)), key=lambda i: ratios[i])
    # A log axis: a column at 1% of its threshold stays visible beside one at 30 times it.
    floor = PLOT_FLOOR
    shown = [max(ratios[i], floor) for i in order]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    # Red: drift; amber: past a threshold but within sampling noise; blue: under.
    colors = [
        "#c0392b"
        if names[i] in report["over"]
        else "#e59866"
        if report["columns"][names[i]].get("within_noise")
        else "#2e86c1"
        for i in order
    ]
    ax.barh([names[i] for i in order], [v - floor for v in shown], left=floor, color=colors)
    ax.set_xscale("log")
    ax.set_xlim(floor, max(10.0, max(shown, default=1.0) * 5))
    for y, (i, v) in enumerate(zip(order, shown, strict=True)):
        ax.text(v, y, f" {labels[i]}", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    model = report["model"]
    title = (
        f"Drift of {report['batch_rows']:,} rows vs {model['name']} v{model['version']}'s reference"
    )
    quarantine = report.get("quarantine")
    if quarantine:
        over = f", over {quarantine['max_share']}" if quarantine["over"] else ""
        title += (
            f"\n{quarantine['quarantined']:,} of {quarantine['in']:,} quarantined before scoring"
            f" ({100 * quarantine['share']:.2f}%{over})"
        )
    ax.set_title(title, color="#c0392b" if quarantine and quarantine["over"] else "black")
    ax.set_xlabel(
        "distance / threshold, log scale (the largest per column)\n"
        "red: drift; amber: past its threshold but within sampling noise; blue: under"
    )
    fig.tight_layout()
    return fig
