"""Evaluation pipeline: the model and a GBDT baseline on the test split -> 08_reporting."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    evaluate_baseline,
    evaluate_model,
    plot_evaluation,
    profile_predictions,
    report_metrics,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the evaluation pipeline."""
    return Pipeline(
        [
            node(
                evaluate_model,
                inputs=[
                    "model",
                    "model_input_validation",
                    "model_input_test",
                    "feature_statistics",
                    "params:evaluation",
                ],
                outputs="model_evaluation",
                name="evaluate_model",
            ),
            node(
                evaluate_baseline,
                inputs=[
                    "model_input_train",
                    "model_input_validation",
                    "model_input_test",
                    "feature_statistics",
                    "params:evaluation",
                ],
                outputs="baseline_evaluation",
                name="evaluate_baseline",
            ),
            node(
                profile_predictions,
                inputs=[
                    "model",
                    "model_input_train",
                    "model_input_validation",
                    "model_input_test",
                    "feature_statistics",
                    "params:monitoring",
                ],
                outputs="prediction_profile",
                name="profile_predictions",
            ),
            node(
                report_metrics,
                inputs=["model_evaluation", "baseline_evaluation"],
                outputs="evaluation_metrics",
                name="report_metrics",
            ),
            node(
                plot_evaluation,
                inputs=[
                    "model_evaluation",
                    "baseline_evaluation",
                    "training_history",
                    "feature_statistics",
                ],
                outputs="evaluation_plots",
                name="plot_evaluation",
            ),
        ],
        tags=["evaluation"],
    )
