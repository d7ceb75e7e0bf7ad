"""Tune pipeline: train/validation shards + statistics -> the study, tuned training keys, trials."""

from kedro.pipeline import Pipeline, node

from .nodes import tune_training


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the tune pipeline (not part of `__default__`; never reads the test split)."""
    return Pipeline(
        [
            node(
                tune_training,
                inputs=[
                    "model_input_train",
                    "model_input_validation",
                    "feature_statistics",
                    "params:training",
                    "params:tune",
                    "tune_study",
                ],
                outputs=["training_tuned_file", "tune_trials"],
                name="tune_training",
            ),
        ],
        tags=["tune"],
    )
