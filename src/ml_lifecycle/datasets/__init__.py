"""Kedro datasets of the project: raw sources, JSON reports, model input, Keras, MLflow, Optuna.

AtomicSparkDataset and AtomicJSONDataset make outputs all-or-nothing (see atomic.py).
"""

from .atomic import AtomicJSONDataset, AtomicSparkDataset
from .json_section import JSONSectionDataset
from .keras_model import KerasModelDataset
from .mlflow_model import MlflowModelDataset
from .mlflow_registry import ChampionDataset, RegistryUpdateDataset, RegistryVersionDataset
from .mlflow_trials import MlflowTrialRunsDataset
from .optional import OptionalJSONDataset
from .optuna_study import OptunaStudyDataset
from .parquet_shards import ParquetShardsDataset
from .spark_sources import SparkSourcesDataset
from .tuned_params import TunedParamsDataset

__all__ = [
    "AtomicJSONDataset",
    "AtomicSparkDataset",
    "ChampionDataset",
    "JSONSectionDataset",
    "KerasModelDataset",
    "MlflowModelDataset",
    "MlflowTrialRunsDataset",
    "OptionalJSONDataset",
    "OptunaStudyDataset",
    "ParquetShardsDataset",
    "RegistryUpdateDataset",
    "RegistryVersionDataset",
    "SparkSourcesDataset",
    "TunedParamsDataset",
]
