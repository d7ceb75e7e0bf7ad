"""Data quality: GX Core suites on the clean table -> validated table + quarantine + reports."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
