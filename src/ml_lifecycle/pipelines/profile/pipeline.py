"""Profile pipeline: a table -> its profile and a starter suite (not part of `__default__`)."""

from kedro.pipeline import Pipeline, node

from .nodes import draft_suite, profile_dataset


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the profile pipeline; reuse it for another table with inputs={'primary_table': x}."""
    return Pipeline(
        [
            node(
                profile_dataset,
                inputs=["primary_table", "params:profile"],
                outputs="profile_report",
                name="profile_dataset",
            ),
            node(
                draft_suite,
                inputs=["profile_report", "params:profile"],
                outputs="starter_suite",
                name="draft_suite",
            ),
        ],
        tags=["profile"],
    )
