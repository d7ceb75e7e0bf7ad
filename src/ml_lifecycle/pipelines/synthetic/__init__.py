"""Synthetic: raw CSV of any size, resampled from a real source (`synthetic.source`), faults too."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
