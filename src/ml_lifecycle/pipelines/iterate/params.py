"""The typed `iterate` block (in conf/base/parameters_monitoring.yml), read by
`decide_iteration`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ml_lifecycle.core.params import Params


class PerformanceTrigger(Params):
    # Binary roc_auc and multiclass accuracy: retrain below `minimum`; rmse: above `maximum`
    # (null: no bound).
    minimum: float | None
    maximum: float | None


class Triggers(Params):
    # any: every monitored column; a list: those columns; false: drift triggers nothing.
    drift: Literal["any", False] | list[str]
    performance: PerformanceTrigger | None  # null: off


class Retrain(Params):
    window: dict[str, Any]  # runtime parameters pointing the sources at the window
    pipelines: list[str]
    params: dict[str, Any]  # runtime parameters of the retraining run
    # Each retraining's data folder is <data_dir>/<the iterate run's MLflow id>.
    data_dir: Annotated[str, Field(min_length=1)]


class IterateParams(Params):
    """`iterate`: when monitoring triggers a retraining, and what it runs on."""

    triggers: Triggers
    retrain: Retrain
