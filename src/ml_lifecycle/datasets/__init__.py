"""Kedro datasets of the project: raw sources, merged JSON reports, model input, Keras models."""

from .json_section import JSONSectionDataset
from .keras_model import KerasModelDataset
from .parquet_shards import ParquetShardsDataset
from .spark_sources import SparkSourcesDataset

__all__ = [
    "JSONSectionDataset",
    "KerasModelDataset",
    "ParquetShardsDataset",
    "SparkSourcesDataset",
]
