"""Data-quality pipeline: 03_primary -> validated 03_primary + quarantine + reports + accounting."""

from kedro.pipeline import Pipeline, node

from .nodes import account_data_quality, check_quality_gate, split_validated, validate_data_quality


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the data-quality pipeline: the clean table against `params:expectation_suite`."""
    suite = ["params:expectation_suite", "params:data_quality_overrides"]
    return Pipeline(
        [
            node(
                validate_data_quality,
                inputs=["primary_table", *suite, "params:data_quality"],
                outputs=["data_quality_summary", "data_quality_docs"],
                name="validate_data_quality",
            ),
            node(
                check_quality_gate,
                inputs="data_quality_summary",
                outputs="data_quality_to_quarantine",
                name="check_quality_gate",
            ),
            node(
                split_validated,
                inputs=["primary_table", "data_quality_to_quarantine", *suite],
                # data_quality_counts: the rows Spark counts while it writes both (in memory).
                outputs=["validated_table", "data_quality_quarantine", "data_quality_counts"],
                name="split_validated",
            ),
            node(
                account_data_quality,
                inputs=[
                    "primary_table",
                    "validated_table",
                    "data_quality_quarantine",
                    "data_quality_counts",
                    "data_quality_summary",
                    *suite,
                ],
                outputs="row_accounting_data_quality",
                name="account_data_quality",
            ),
        ],
        tags=["data_quality"],
    )
