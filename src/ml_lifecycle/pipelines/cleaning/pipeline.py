"""Cleaning pipeline: 02_intermediate -> 03_primary + quarantine + statistics + row accounting."""

from kedro.pipeline import Pipeline, node

from .nodes import account_cleaning, clean_and_count, fit_cleaning_statistics


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
                clean_and_count,
                inputs=["intermediate_table", "cleaning_statistics", "params:cleaning"],
                # cleaning_repairs: counts Spark takes while writing primary_table (in memory).
                outputs=["primary_table", "cleaning_quarantine", "cleaning_repairs"],
                name="clean",
            ),
            node(
                account_cleaning,
                inputs=[
                    "intermediate_table",
                    "primary_table",
                    "cleaning_quarantine",
                    "cleaning_repairs",
                ],
                outputs="row_accounting_cleaning",
                name="account_cleaning",
            ),
        ],
        tags=["cleaning"],
    )
