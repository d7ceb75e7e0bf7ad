"""Cleaning: de-duplicate, coerce, reject by rule or outlier, impute -> 03_primary + quarantine."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
