"""Monitoring pipeline: inference (ingest, clean, score the batch) + drift and batch metric.

The batch is `inference_batch_path`; its scores are the champion's, so the prediction's drift is
the deployed model's. Not in `__default__`: it needs a champion.
"""

from kedro.pipeline import Pipeline, node

from ml_lifecycle.pipelines.inference import create_pipeline as inference_pipeline

from .nodes import champion_reference, measure_drift, measure_performance, plot_drift


def monitoring_nodes() -> Pipeline:
    """Returns the monitoring nodes alone (inputs: the `inference.*` batch and scores)."""
    return Pipeline(
        [
            node(
                champion_reference,
                inputs="inference.champion",
                outputs="champion_reference",
                name="champion_reference",
            ),
            node(
                measure_drift,
                inputs=[
                    "champion_reference",
                    "inference.primary_table",
                    "inference.predictions",
                    "params:monitoring",
                    "inference.row_accounting_ingestion",
                    "inference.row_accounting_cleaning",
                    "inference.row_accounting",
                ],
                outputs="drift_report",
                name="measure_drift",
            ),
            node(plot_drift, inputs="drift_report", outputs="drift_plot", name="plot_drift"),
            node(
                measure_performance,
                inputs=[
                    "inference.primary_table",
                    "inference.predictions",
                    "inference.champion",
                    "params:features",
                    "params:inference.scoring.keys",
                    "params:monitoring.performance",
                ],
                outputs="batch_performance",
                name="measure_performance",
            ),
        ],
        tags=["monitoring"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the monitoring pipeline: score the batch with the champion, then watch it."""
    return inference_pipeline() + monitoring_nodes()
