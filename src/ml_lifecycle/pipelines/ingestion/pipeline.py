"""Ingestion pipeline: raw sources -> 02_intermediate table + quarantine + row accounting."""

from kedro.pipeline import Pipeline, node

from .nodes import account_ingestion, ingest


def create_pipeline(**kwargs) -> Pipeline:
    """Returns the ingestion pipeline."""
    return Pipeline(
        [
            node(
                ingest,
                inputs=["raw_sources", "params:ingestion"],
                outputs=["intermediate_table", "ingestion_quarantine", "ingestion_counts"],
                name="ingest",
            ),
            node(
                account_ingestion,
                inputs=[
                    "ingestion_counts",
                    "intermediate_table",
                    "ingestion_quarantine",
                    "params:ingestion",
                ],
                outputs="row_accounting_ingestion",
                name="account_ingestion",
            ),
        ],
        tags=["ingestion"],
    )
