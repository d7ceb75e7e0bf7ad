"""The features stage."""

from ml_lifecycle.pipelines import lazy_create_pipeline

__all__ = ["create_pipeline"]  # noqa: F822 - made on first use
__getattr__ = lazy_create_pipeline(__name__)
