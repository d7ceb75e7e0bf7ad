"""Training pipeline: 05_model_input shards + feature statistics -> 06_models, logged to MLflow."""

from kedro.pipeline import Pipeline, node

from .nodes import package_model, train_model


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the training pipeline."""
    return Pipeline(
        [
            node(
                train_model,
                inputs=[
                    "model_input_train",
                    "model_input_validation",
                    "feature_statistics",
                    "params:training",
                    "params:training_tuned",
                ],
                outputs=["model", "training_history"],
                name="train_model",
            ),
            node(
                package_model,
                inputs=[
                    "model",
                    "model_input_test",
                    "feature_statistics",
                    "cleaning_statistics",
                    "params:cleaning",
                ],
                outputs="logged_model",
                name="log_model",
            ),
        ],
        tags=["training"],
    )
