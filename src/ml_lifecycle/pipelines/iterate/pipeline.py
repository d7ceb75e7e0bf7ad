"""Iterate pipeline: monitoring -> decision -> a retraining run, only when it is needed."""

from kedro.pipeline import Pipeline, node

from ml_lifecycle.pipelines.monitoring import create_pipeline as monitoring_pipeline

from .nodes import decide_iteration, retrain


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the iterate pipeline (not in `__default__`: it needs a champion)."""
    return monitoring_pipeline() + Pipeline(
        [
            node(
                decide_iteration,
                inputs=["drift_report", "batch_performance", "params:iterate"],
                outputs="iteration_decision",
                name="decide_iteration",
            ),
            node(
                retrain,
                inputs=["iteration_decision", "params:iterate"],
                outputs="iteration_outcome",
                name="retrain",
            ),
        ],
        tags=["iterate"],
    )
