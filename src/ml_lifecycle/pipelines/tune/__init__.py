"""Tune: an Optuna search of training keys on the train/validation splits, resumable, in MLflow."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
