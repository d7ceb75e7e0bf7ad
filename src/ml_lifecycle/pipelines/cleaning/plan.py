"""The row-wise cleaning plan: built once from the parameters and fitted statistics, applied here
by Spark and by the logged model in pandas (ml_lifecycle.model.cleaning_plan documents its form).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from ml_lifecycle.core.spark import col, quote
from ml_lifecycle.pipelines.cleaning.params import CleaningParams

logger = logging.getLogger(__name__)


def build_plan(
    params: CleaningParams, statistics: dict[str, Any], column_types: dict[str, str]
) -> dict[str, Any]:
    """Returns the plan of every column in `column_types` ({column: Spark type after casting})."""
    clips = {}
    for name, spec in params.outliers.items():
        bounds = statistics["outliers"][name]
        if spec.action == "clip" and bounds["lower"] is not None:
            clips[name] = [bounds["lower"], bounds["upper"]]
    columns = {
        name: {
            "type": dtype,
            "coerce": params.types.get(name),  # the declared type, or None
            "clip": clips.get(name),
            "impute": _within(name, statistics["impute"].get(name), clips.get(name)),
        }
        for name, dtype in column_types.items()
    }
    return {"columns": columns}


def _within(name: str, value: Any, clip: list[float] | None) -> Any:
    """The imputed value, clipped to the column's bounds like every other value of it.

    The plan runs again where the logged model scores rows that batch cleaning repaired: an
    imputed value outside the bounds would be clipped there and not where raw rows are served.
    """
    if clip is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    inside = min(max(value, clip[0]), clip[1])
    if inside != value:
        logger.warning(
            "cleaning.impute.%s: %s lies outside the clip bounds [%s, %s]; %s is imputed.",
            name, value, clip[0], clip[1], inside,
        )  # fmt: skip
    return inside


def coerced(name: str, step: dict[str, Any]) -> Column:
    """Returns the column cast to its declared type; null where the value does not cast."""
    return F.expr(f"try_cast({quote(name)} AS {step['coerce']})")


def repaired(name: str, step: dict[str, Any]) -> Column | None:
    """Returns the column clipped (present values) and imputed (missing ones); None: unchanged."""
    dtype, fixed = step["type"], None
    if step["clip"] is not None:
        lower, upper = step["clip"]
        # greatest() skips nulls: a missing value must stay missing (imputation fills it).
        clipped = F.least(F.greatest(col(name), F.lit(lower)), F.lit(upper))
        fixed = F.when(col(name).isNotNull(), clipped)
    if step["impute"] is not None:
        fixed = F.coalesce(col(name) if fixed is None else fixed, F.lit(step["impute"]).cast(dtype))
    return None if fixed is None else fixed.cast(dtype)
