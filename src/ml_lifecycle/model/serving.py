"""The model as MLflow logs it: the `keras` flavor, and a `python_function` flavor for raw rows.

MLflow's own Keras pyfunc feeds `Model.predict`, whose NumPy adapter refuses string arrays, so a
model with StringLookup inputs could not be served or used in `spark_udf`. The logged model keeps
the standard `keras` flavor (`mlflow.keras.load_model` returns the Keras model) and points its
`python_function` flavor at `_load_pyfunc` below: it takes a pandas DataFrame of raw feature
columns (missing values allowed), cleans them as batch cleaning does (the training run's cast,
clip and imputation: ml_lifecycle.model.cleaning_plan, stored in the model's metadata as
`cleaning`), and returns the model's output for each row.
"""

from __future__ import annotations

import logging
import os
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.models.utils import _save_example
from mlflow.types.schema import ColSpec, Schema

from ml_lifecycle.model import cleaning_plan
from ml_lifecycle.model.layers import input_spec, predict_raw

# MLflow column types of the model's raw inputs. Integer categories are declared double, as MLflow
# advises: pandas holds an integer column with a missing value as floats.
COLUMN_TYPES = {"float32": "double", "int64": "double", "string": "string"}
PACKAGE_DIR = Path(__file__).parent


class RawFeaturesModel:
    """The pyfunc face of the Keras model: raw DataFrame in, one score (or class row) out."""

    def __init__(self, model: keras.Model, metadata: dict[str, Any]):
        self.model = model
        self.metadata = metadata

    def predict(self, data: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        """Returns scores (binary: P(positive); regression: the value) or class probabilities."""
        # Every input is optional in the signature: a column left out is missing on every row.
        absent = [c for c in self.metadata.get("features") or {} if c not in data.columns]
        if absent:
            data = data.assign(**dict.fromkeys(absent, None))
        # A model logged before cleaning travelled with it has none: its rows go in as they are.
        plan = self.metadata.get("cleaning")
        if plan is not None:
            data = cleaning_plan.apply(data, plan)
        scores = predict_raw(self.model, data)
        if self.metadata.get("task") == "multiclass":
            return pd.DataFrame(scores, columns=self.metadata["class_names"], index=data.index)
        return pd.Series(scores[:, 0].astype("float64"), index=data.index, name="prediction")

    def get_raw_model(self) -> keras.Model:
        """Returns the Keras model."""
        return self.model


def _load_pyfunc(model_path: str) -> RawFeaturesModel:
    """MLflow's pyfunc entry point: `model_path` is the logged model's folder."""
    conf = Model.load(os.path.join(model_path, MLMODEL_FILE_NAME))
    data = conf.flavors["keras"].get("data", "data")
    model = keras.saving.load_model(os.path.join(model_path, data, "model.keras"), safe_mode=True)
    return RawFeaturesModel(model, conf.metadata or {})


def signature(statistics: dict[str, Any]) -> ModelSignature:
    """Returns the raw-feature signature: one optional column per model input."""
    inputs = Schema(
        [
            ColSpec(COLUMN_TYPES[dtype], name, required=False)
            for name, dtype in input_spec(statistics).items()
        ]
    )
    if statistics["task"] == "multiclass":
        outputs = Schema([ColSpec("double", name) for name in statistics["class_names"]])
    else:
        outputs = Schema([ColSpec("double", "prediction")])
    return ModelSignature(inputs=inputs, outputs=outputs)


class _Flavor:
    """Writes the keras flavor with MLflow, then the raw-feature pyfunc flavor over it.

    `mlflow.keras.save_model` only accepts tensor signatures and writes an input example before
    creating its folder; the signature and example are therefore added here.
    """

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(
        path: str,
        mlflow_model: Model,
        model: keras.Model,
        model_signature: ModelSignature,
        input_example: pd.DataFrame,
        **kwargs: Any,
    ) -> None:
        os.makedirs(path, exist_ok=True)
        keras_logger = logging.getLogger("mlflow.keras.save")
        level = keras_logger.level
        keras_logger.setLevel(logging.ERROR)  # "no signature": it is added below
        try:
            mlflow.keras.save_model(model, path=path, mlflow_model=mlflow_model, **kwargs)
        finally:
            keras_logger.setLevel(level)
        # The loader and the custom layers travel with the model: pyfunc puts code/ on sys.path.
        shutil.copytree(
            PACKAGE_DIR,
            os.path.join(path, "code", PACKAGE_DIR.name),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        conf = mlflow_model.flavors["python_function"]
        conf.update(loader_module=__name__, code="code")
        mlflow_model.signature = model_signature
        _save_example(mlflow_model, input_example, path)
        mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))


def log_model(
    model: keras.Model,
    statistics: dict[str, Any],
    input_example: pd.DataFrame,
    name: str = "model",
) -> mlflow.models.model.ModelInfo:
    """Logs `model` to the active MLflow run; returns its ModelInfo (`models:/<model_id>`).

    `statistics` are the feature statistics with the run's cleaning plan as `cleaning`
    (ml_lifecycle.model.cleaning_plan): the logged model cleans every row it scores with it.
    """
    if "cleaning" not in statistics:
        raise ValueError(
            "log_model: the statistics have no `cleaning` plan; the served model would skip "
            "the cleaning batch inference applies (see training's package_model)."
        )
    features = input_spec(statistics)
    metadata = {
        "task": statistics["task"],
        "class_names": statistics.get("class_names"),
        "label": statistics.get("label", {}).get("name"),
        "features": features,
        "cleaning": cleaning_plan.restrict(statistics["cleaning"], list(features)),
    }
    requirements = [
        f"tensorflow=={version('tensorflow')}",
        f"keras=={keras.__version__}",
        f"mlflow=={mlflow.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=_Flavor,
        flavor_name="mlflow.keras",
        model=model,
        model_signature=signature(statistics),
        input_example=input_example,
        metadata=metadata,
        # Named, not inferred: inference would load the model in a subprocess.
        pip_requirements=requirements,
    )
