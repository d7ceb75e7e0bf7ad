"""Training node: the configured Keras model (ml_lifecycle.model.fit), with tuned keys merged."""

from __future__ import annotations

import logging
from typing import Any

import keras
import pyarrow.dataset as pads

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.cleaning_plan import restrict
from ml_lifecycle.model.fit import EpochTimer, fit
from ml_lifecycle.model.layers import input_spec
from ml_lifecycle.model.overrides import merge_tuned
from ml_lifecycle.pipelines.cleaning.params import CleaningParams
from ml_lifecycle.pipelines.cleaning.plan import build_plan

logger = logging.getLogger(__name__)

# EpochTimer lives in ml_lifecycle.model.fit now; benchmarks/input_pipeline.py imports it here.
__all__ = ["EpochTimer", "package_model", "train_model"]


def train_model(
    train: pads.Dataset,
    validation: pads.Dataset,
    statistics: dict[str, Any],
    params: dict[str, Any],
    tuned: dict[str, Any] | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """Returns the trained model (best validation epoch) and its training history.

    `tuned` (`params:training_tuned`) overrides keys of `params`; the summary names them.
    """
    parsed, tuned_keys = merge_tuned(params, tuned)
    model, history, summary = fit(train, validation, statistics, parsed)
    if tuned_keys:
        logger.info("Training keys from training_tuned: %s", ", ".join(tuned_keys))
    return model, {"summary": {**summary, "tuned_keys": tuned_keys}, "history": history}


def package_model(  # noqa: PLR0913 - the model, its example rows and the two statistics it keeps
    model: keras.Model,
    test: pads.Dataset,
    statistics: dict[str, Any],
    cleaning_statistics: dict[str, Any],
    cleaning_params: dict[str, Any],
    example_rows: int = 5,
) -> dict[str, Any]:
    """Returns what MLflow logs with the model: it, its statistics with the run's cleaning plan
    (so a served row is cleaned as batch inference cleans it) and raw test rows as example."""
    types = (cleaning_statistics or {}).get("column_types")
    if types is None:
        raise ConfigError(
            "training: the data folder's cleaning_statistics.json is missing or has no "
            "column_types (fitted by an older version); run `kedro run --pipelines cleaning` "
            "before training."
        )
    params = parse(CleaningParams, cleaning_params, "cleaning")
    columns = list(input_spec(statistics))
    plan = restrict(build_plan(params, cleaning_statistics, types), columns)
    example = test.head(example_rows, columns=columns).to_pandas()
    packaged = {**statistics, "cleaning": plan}
    return {"model": model, "statistics": packaged, "input_example": example}
