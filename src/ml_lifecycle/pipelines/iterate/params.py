"""The typed `iterate` block (in conf/base/parameters_monitoring.yml); not yet read by the
iterate nodes, which take it as a plain dict."""

from __future__ import annotations

from typing import Any, Literal

from ml_lifecycle.core.params import Params


class PerformanceTrigger(Params):
    minimum: float | None = None
    maximum: float | None = None


class Triggers(Params):
    # any: every monitored column; a list: those columns; false: drift triggers nothing.
    drift: Literal["any", False] | list[str]
    performance: PerformanceTrigger | None  # null: off


class Retrain(Params):
    window: dict[str, Any]  # runtime parameters pointing the sources at the window
    pipelines: list[str]
    params: dict[str, Any]  # runtime parameters of the retraining run
    data_dir: str | None = None  # absent: the retraining run's env decides


class IterateParams(Params):
    """`iterate`: when monitoring triggers a retraining, and what it runs on."""

    triggers: Triggers
    retrain: Retrain
