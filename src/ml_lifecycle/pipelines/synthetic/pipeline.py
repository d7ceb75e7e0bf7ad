"""Synthetic pipeline: a real source -> a landing folder of CSV like it, at any scale."""

from kedro.pipeline import Pipeline, node

from .nodes import synthesize_rows


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the synthetic-data pipeline (not part of `__default__`)."""
    return Pipeline(
        [
            node(
                synthesize_rows,
                inputs=["synthetic_seed", "params:synthetic"],
                outputs="synthetic_landing",
                name="synthesize_rows",
            )
        ],
        tags=["synthetic"],
    )
