"""The typed `iterate` block (in conf/base/parameters_monitoring.yml), read by
`decide_iteration`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ml_lifecycle.core.params import Params


class PerformanceTrigger(Params):
    # The champion's batch metric (monitoring.performance: binary roc_auc, multiclass accuracy,
    # regression rmse) against the same metric on its own test split, from the evaluation of the
    # run that trained it: retrain when the batch is worse by more than this share of the test
    # value (below test * (1 - max_degradation); rmse, where higher is worse: above
    # test * (1 + max_degradation)). A share, so one setting fits every task and label scale.
    max_degradation: Annotated[float, Field(ge=0)]


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
