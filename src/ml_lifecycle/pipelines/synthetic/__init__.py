"""Synthetic: raw CSV of any size, resampled from a real source (`synthetic.source`), faults too."""

from ml_lifecycle.pipelines import lazy_create_pipeline

__all__ = ["create_pipeline"]  # noqa: F822 - made on first use
__getattr__ = lazy_create_pipeline(__name__)
