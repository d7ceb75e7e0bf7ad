"""A tiny untrained raw-in model on flight columns, logged and registered as a champion."""

from __future__ import annotations

import copy
from typing import Any

import keras
import mlflow
import pandas as pd
from mlflow import MlflowClient

from ml_lifecycle.datasets.mlflow_registry import CHAMPION, register
from ml_lifecycle.model import serving
from ml_lifecycle.model.layers import build_model

# Statistics in the layout of features.fit_feature_statistics, made up: the model's weights are
# random, its preprocessing (fill, log, normalization, bins, lookups) is the real one.
STATISTICS: dict[str, Any] = {
    "task": "binary",
    "class_names": ["on_time", "delayed"],
    "label": {"rows": 100, "class_counts": {"0": 80, "1": 20}},
    "numeric": {
        "distance": {
            "normalization": "log_zscore",
            "mean": 6.6,
            "variance": 0.5,
            "min": 2.0,
            "max": 8.5,
            "fill": 1000.0,
            "count": 100,
            "bin_edges": [500.0, 1000.0, 2000.0],
        },
        "temp": {
            "normalization": "zscore",
            "mean": 55.0,
            "variance": 300.0,
            "min": 10.0,
            "max": 100.0,
            "fill": 55.0,
            "count": 100,
        },
    },
    "categorical": {
        "carrier": {
            "kind": "string",
            "vocabulary": ["UA", "B6", "EV", "DL"],
            "counts": [4, 3, 2, 1],
        },
        "sched_dep_hour": {"kind": "integer", "vocabulary": [6, 7, 8, 17], "counts": [4, 3, 2, 1]},
    },
}
EXAMPLE = pd.DataFrame(
    {
        "distance": [1000.0, None],
        "temp": [50.0, 60.0],
        "carrier": ["UA", None],
        "sched_dep_hour": [7.0, None],
    }
)
# The row-wise cleaning the model applies before Keras (ml_lifecycle.model.cleaning_plan): here the
# table's types only, nothing clipped or imputed, so the model's own preprocessing decides.
CLEANING: dict[str, Any] = {
    "columns": {
        "distance": {"type": "double", "coerce": None, "clip": None, "impute": None},
        "temp": {"type": "double", "coerce": None, "clip": None, "impute": None},
        "carrier": {"type": "string", "coerce": None, "clip": None, "impute": None},
        "sched_dep_hour": {"type": "int", "coerce": None, "clip": None, "impute": None},
    }
}
# A whole training block (build_model reads the shape: hidden units, l2, dropout, embedding).
MODEL = {
    "seed": 0,
    "deterministic": True,
    "epochs": 1,
    "batch_size": 8,
    "shuffle_buffer": 8,
    "hidden_units": [8],
    "dropout": 0.0,
    "l2": 0.0,
    "batch_norm": False,
    "embedding": {"multiplier": 2.0, "min_dim": 2, "max_dim": 4},
    "numeric_embedding": {"kind": "none", "frequencies": 1, "sigma": 1.0, "dim": 1},
    "ensemble": 1,
    "learning_rate": 0.001,
    "schedule": {"name": "constant"},
    "early_stopping": {"monitor": "val_loss", "mode": "min", "patience": 1},
    "class_weight": None,
    "strategy": "default",
    "mixed_precision": "float32",
    "tensorboard_dir": None,
}


def multiclass_statistics() -> dict[str, Any]:
    """Returns STATISTICS for a three-class task."""
    statistics = copy.deepcopy(STATISTICS)
    statistics.update(task="multiclass", class_names=["early", "on_time", "late"])
    return statistics


def tiny_model(statistics: dict[str, Any] = STATISTICS, seed: int = 0) -> keras.Model:
    """Returns the raw-in model of `statistics` with seeded random weights."""
    keras.utils.set_random_seed(seed)
    return build_model(statistics, MODEL)[0]


def register_champion(
    name: str,
    model: keras.Model,
    statistics: dict[str, Any] = STATISTICS,
    champion: bool = True,
    cleaning: dict[str, Any] = CLEANING,
) -> tuple[str, str]:
    """Logs `model` (serving.log_model), registers it; returns (version, run id).

    Uses the active tracking store (the `mlflow_store` fixture). `champion`: point the alias at it.
    `cleaning`: the plan the logged model cleans its rows with.
    """
    with mlflow.start_run() as run:
        info = serving.log_model(model, {**statistics, "cleaning": cleaning}, EXAMPLE)
    client = MlflowClient()
    version = register(client, info.model_uri, name, run.info.run_id)
    if champion:
        client.set_registered_model_alias(name, CHAMPION, version)
    return version, run.info.run_id
