"""Monitoring: a new batch against the champion's reference, feature by feature, every run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
