"""Inference: a new raw batch -> the same ingestion and cleaning -> scored by the champion."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
