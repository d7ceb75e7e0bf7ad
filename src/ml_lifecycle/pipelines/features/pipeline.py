"""Features pipeline: 03_primary (validated) -> 04_feature + 05_model_input shards + statistics."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    account_features,
    assign_split_and_count,
    fit_statistics_and_reference,
    make_model_input,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the features pipeline."""
    return Pipeline(
        [
            node(
                assign_split_and_count,
                inputs=["validated_table", "params:features"],
                # features_counts: the rows Spark counts while it writes both (in memory).
                outputs=["feature_table", "features_quarantine", "features_counts"],
                name="assign_split",
            ),
            node(
                fit_statistics_and_reference,
                inputs=["feature_table", "params:features", "params:monitoring"],
                # One aggregation and one grouped count of the table give both.
                outputs=["feature_statistics", "reference_profile"],
                name="fit_statistics_and_reference",
            ),
            node(
                make_model_input,
                inputs=["feature_table", "feature_statistics", "params:features"],
                outputs=["model_input_train", "model_input_validation", "model_input_test"],
                name="make_model_input",
            ),
            node(
                account_features,
                inputs=[
                    "validated_table",
                    "feature_table",
                    "features_quarantine",
                    "features_counts",
                ],
                outputs="row_accounting_features",
                name="account_features",
            ),
        ],
        tags=["features"],
    )
