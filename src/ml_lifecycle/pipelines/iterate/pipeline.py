"""Iterate pipeline: monitoring -> the decision whether to retrain, and what the retraining runs."""

from kedro.pipeline import Pipeline, node

from ml_lifecycle.pipelines.monitoring import create_pipeline as monitoring_pipeline

from .nodes import decide_iteration


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the iterate pipeline (not in `__default__`: it needs a champion).

    It decides and records only; `kedro iterate` runs it, then the retraining it asks for.
    """
    return monitoring_pipeline() + Pipeline(
        [
            node(
                decide_iteration,
                inputs=[
                    "drift_report",
                    "batch_performance",
                    "inference.champion",
                    "params:iterate",
                ],
                outputs="iteration_decision",
                name="decide_iteration",
            ),
        ],
        tags=["iterate"],
    )
