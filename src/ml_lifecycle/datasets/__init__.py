"""Kedro datasets of the project: declared raw sources and merged JSON reports."""

from .json_section import JSONSectionDataset
from .spark_sources import SparkSourcesDataset

__all__ = ["JSONSectionDataset", "SparkSourcesDataset"]
