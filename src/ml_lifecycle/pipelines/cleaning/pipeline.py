"""Cleaning pipeline: 02_intermediate -> 03_primary + quarantine + statistics + row accounting."""

from kedro.pipeline import Pipeline, node

from .nodes import account_cleaning, clean, fit_cleaning_statistics


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the cleaning pipeline."""
    return Pipeline(
        [
            node(
                fit_cleaning_statistics,
                inputs=["intermediate_table", "params:cleaning"],
                outputs="cleaning_statistics",
                name="fit_cleaning_statistics",
            ),
            node(
                clean,
                inputs=["intermediate_table", "cleaning_statistics", "params:cleaning"],
                outputs=["primary_table", "cleaning_quarantine"],
                name="clean",
            ),
            node(
                account_cleaning,
                inputs=["intermediate_table", "primary_table", "cleaning_quarantine"],
                outputs="row_accounting_cleaning",
                name="account_cleaning",
            ),
        ],
        tags=["cleaning"],
    )
