"""Profile: statistics of a dataset in Spark, and a starter expectation suite drafted from them."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
