"""Synthetic pipeline: the real sample -> a landing folder of flights-like CSV at any scale."""

from kedro.pipeline import Pipeline, node

from .nodes import synthesize_flights


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the synthetic-data pipeline (not part of `__default__`)."""
    return Pipeline(
        [
            node(
                synthesize_flights,
                inputs=["synthetic_seed", "params:synthetic"],
                outputs="synthetic_landing",
                name="synthesize_flights",
            )
        ],
        tags=["synthetic"],
    )
