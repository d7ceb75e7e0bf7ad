"""Inference pipeline: new batch -> ingestion + cleaning (namespace `inference`) -> predictions.

Ingestion and cleaning are the training stages themselves, reused as a namespaced modular
pipeline: their datasets become `inference.*` catalog entries. The batch is cleaned with the
champion's own cleaning statistics, taken from its training run (never refitted on the batch).
`inference.champion` is the registry's champion, pinned once per run (a cached catalog dataset).
"""

from kedro.pipeline import Pipeline, node, pipeline

from ml_lifecycle.pipelines.cleaning import create_pipeline as cleaning_pipeline
from ml_lifecycle.pipelines.ingestion import create_pipeline as ingestion_pipeline

from .nodes import (
    account_inference,
    admit_batch,
    champion_cleaning_statistics,
    describe_champion,
    score_batch,
)


def _scoring() -> Pipeline:
    return Pipeline(
        [
            # Ingestion reads the batch through this node, whose first input is the champion:
            # without one the run stops before the batch is read.
            node(
                admit_batch,
                inputs=["champion", "raw_sources"],
                outputs="admitted_sources",
                name="admit_batch",
            ),
            node(
                describe_champion,
                inputs="champion",
                outputs="champion_record",
                name="describe_champion",
            ),
            node(
                champion_cleaning_statistics,
                inputs=["champion", "fitted_cleaning_statistics"],
                outputs="cleaning_statistics",
                name="champion_cleaning_statistics",
            ),
            node(
                score_batch,
                inputs=["primary_table", "champion", "params:scoring"],
                outputs=["predictions", "quarantine"],
                name="score_batch",
            ),
            node(
                account_inference,
                inputs=["primary_table", "predictions", "quarantine", "champion"],
                outputs="row_accounting",
                name="account_inference",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the inference pipeline (not in `__default__`: it needs a champion first)."""
    ingestion = pipeline(ingestion_pipeline(), inputs={"raw_sources": "admitted_sources"})
    cleaning = cleaning_pipeline()
    cleaning = cleaning - cleaning.only_nodes_with_outputs("cleaning_statistics")
    return pipeline(
        ingestion + cleaning + _scoring(),
        namespace="inference",
        # Shared with training, not namespaced: the data folder's cleaning statistics (only
        # used when the champion's run has none) and the ingestion declarations.
        inputs={"fitted_cleaning_statistics": "cleaning_statistics"},
        parameters={"params:ingestion": "params:ingestion"},
        tags=["inference"],
    )
