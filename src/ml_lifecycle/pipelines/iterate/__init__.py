"""Iterate: monitoring and a decision to retrain, which `kedro iterate` acts on."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
