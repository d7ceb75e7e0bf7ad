"""Iterate: monitoring, a decision, and a retraining run only when the decision asks for one."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
