"""Profile pipeline: the table before cleaning -> its profile and a starter suite for the cleaned
table (not part of `__default__`)."""

from kedro.pipeline import Pipeline, node

from .nodes import draft_suite, profile_dataset


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the profile pipeline: the ingested table, before cleaning imputes and clips it, so
    the profile shows its missing values and raw ranges; the draft follows `params:cleaning` to
    hold for the cleaned table data_quality validates. Reuse it for another table with
    inputs={'intermediate_table': x}."""
    return Pipeline(
        [
            node(
                profile_dataset,
                inputs=["intermediate_table", "params:profile"],
                outputs="profile_report",
                name="profile_dataset",
            ),
            node(
                draft_suite,
                inputs=["profile_report", "params:profile", "params:cleaning"],
                outputs="starter_suite",
                name="draft_suite",
            ),
        ],
        tags=["profile"],
    )
