"""Ingestion: declared raw sources -> typed, joined Parquet, malformed records to quarantine."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
