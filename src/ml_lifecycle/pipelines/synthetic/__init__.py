"""Synthetic: flights-like raw CSV of any size, resampled from the real sample, with faults."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
