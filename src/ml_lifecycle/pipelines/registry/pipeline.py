"""Registry pipeline: register the logged model, gate it against the thresholds and the champion.

The gate's decision is a dataset; the `champion` alias moves after the whole run succeeded
(ml_lifecycle.hooks.MlflowRunHooks), never in a run that failed.
"""

from kedro.pipeline import Pipeline, node

from .nodes import gate_model, register_model


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the registry pipeline."""
    return Pipeline(
        [
            node(
                register_model,
                inputs=["logged_model", "params:registry"],
                outputs="registered_model",
                name="register_model",
            ),
            node(
                gate_model,
                inputs=[
                    "registered_model",
                    "model_input_validation",
                    "model_input_test",
                    "feature_statistics",
                    "params:evaluation",
                    "params:registry",
                ],
                outputs="gate_decision",
                name="gate_model",
            ),
        ],
        tags=["registry"],
    )
