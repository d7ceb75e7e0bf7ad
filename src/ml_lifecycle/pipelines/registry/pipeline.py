"""Registry pipeline: register the logged model, gate it against the thresholds and the champion.

`registered_model`, `registry_champion` and `registry_update` are registry datasets: saving the
update tags the version and sets `challenger`; `champion` moves only once the whole run succeeded
(the update is staged, ml_lifecycle.tracking.staged commits it), never in a run that failed.
"""

from kedro.pipeline import Pipeline, node

from .nodes import gate_model, register_model, registry_update


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the registry pipeline."""
    return Pipeline(
        [
            node(
                register_model,
                inputs="logged_model",
                outputs="registered_model",
                name="register_model",
            ),
            node(
                gate_model,
                inputs=[
                    "registered_model",
                    "registry_champion",
                    "model_input_validation",
                    "model_input_test",
                    "feature_statistics",
                    "params:evaluation",
                    "params:registry",
                ],
                outputs="gate_decision",
                name="gate_model",
            ),
            node(
                registry_update,
                inputs="gate_decision",
                outputs="registry_update",
                name="registry_update",
            ),
        ],
        tags=["registry"],
    )
