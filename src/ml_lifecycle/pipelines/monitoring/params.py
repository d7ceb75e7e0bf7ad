"""The typed `monitoring` block (conf/base/parameters_monitoring.yml).

Read by features (the drift reference's bins), evaluation (the prediction profile) and the
monitoring nodes (`measure_drift` the whole block, `measure_performance` its `performance`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ml_lifecycle.core.params import Params

NonNegative = Annotated[float, Field(ge=0)]


class Thresholds(Params):
    """Distance bounds; a key left out (or null) is not checked. Only the keys a block sets
    count (`model_dump(exclude_unset=True)`), so a column's entry replaces just those."""

    psi: NonNegative | None = None
    js: NonNegative | None = None
    linf: NonNegative | None = None
    unseen_share: NonNegative | None = None


class DriftThresholds(Params):
    default: Thresholds
    columns: dict[str, Thresholds]  # per column, replacing the default's keys it names


class Quarantine(Params):
    max_share: Annotated[float, Field(ge=0, le=1)]


class Performance(Params):
    min_labelled_rows: Annotated[int, Field(ge=0)]


class MonitoringParams(Params):
    """`monitoring`: drift of a new batch against the champion's reference."""

    bins: Annotated[int, Field(gt=1)]
    max_categories: Annotated[int, Field(gt=0)]
    thresholds: DriftThresholds
    # null: the thresholds alone decide.
    significance: Annotated[float, Field(gt=0, lt=1)] | None
    quarantine: Quarantine
    performance: Performance
