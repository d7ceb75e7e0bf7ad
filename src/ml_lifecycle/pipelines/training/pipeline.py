"""Training pipeline: 05_model_input shards + feature statistics -> 06_models."""

from kedro.pipeline import Pipeline, node

from .nodes import train_model


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
                ],
                outputs=["model", "training_history"],
                name="train_model",
            ),
        ],
        tags=["training"],
    )
