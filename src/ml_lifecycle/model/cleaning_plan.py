"""The row-wise part of cleaning as data: what the logged model does to a raw row before Keras.

A plan is built by the cleaning stage (ml_lifecycle.pipelines.cleaning.plan) from the cleaning
parameters and the statistics a run fitted; Spark applies it to a table there, and the logged
model applies it here, in pandas, to the rows it is asked to score. Its JSON form is

    {"columns": {name: {"type": <Spark SQL type>, "coerce": <declared type> | null,
                        "clip": [lower, upper] | null, "impute": value | null}}}

applied per column in this order: the value is cast to `type` (as Spark's `try_cast`: a value
that does not cast is missing), a missing or non-finite number is missing, a present value is
clipped to [lower, upper] and cast to `type` again, a missing value becomes `impute`.

Row-level rejections (required columns, rules, outliers to drop, failed casts, ±inf, duplicate
keys) have no answer for one row: batch cleaning quarantines such a row, serving scores it with
the value repaired as above (a failed cast and ±inf are missing, then imputed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

INTEGRAL = {"tinyint", "smallint", "int", "bigint", "byte", "short", "integer", "long"}
FRACTIONAL = {"float", "double", "real"}


def is_float(dtype: str) -> bool:
    """Returns whether the Spark type `dtype` holds floating-point values (NaN and ±inf)."""
    return dtype in FRACTIONAL


def _kind(dtype: str) -> str:
    if dtype in INTEGRAL:
        return "integral"
    if dtype in FRACTIONAL or dtype.startswith("decimal"):
        return "fractional"
    return "string" if dtype == "string" else "other"


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    """Returns `values` cast to the Spark type `dtype` as Spark casts it (missing: NaN or None)."""
    kind = _kind(dtype)
    if kind == "string":
        return values.map(lambda v: None if _missing(v) else str(v)).astype(object)
    if kind == "other":
        return values
    numbers = pd.to_numeric(values.astype(object), errors="coerce").astype("float64")
    numbers = numbers.where(np.isfinite(numbers))  # ±inf: missing, as batch cleaning sets aside
    if kind == "integral":
        return np.trunc(numbers)  # Spark's cast of a fraction to an integer drops the fraction
    if dtype == "float":
        return numbers.astype("float32").astype("float64")
    return numbers


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _cast_value(value: Any, dtype: str) -> Any:
    return _cast(pd.Series([value], dtype=object), dtype).iloc[0]


def restrict(plan: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """Returns `plan` for `columns` only (the model's inputs), in their order."""
    steps = plan["columns"]
    return {"columns": {name: steps[name] for name in columns if name in steps}}


def apply(data: pd.DataFrame, plan: dict[str, Any]) -> pd.DataFrame:
    """Returns `data` with each planned column cleaned; other columns are left as they are."""
    cleaned = {}
    for name, step in plan["columns"].items():
        if name not in data.columns:
            continue
        dtype = step["type"]
        values = _cast(data[name], dtype)
        if step.get("clip") is not None and _kind(dtype) in ("integral", "fractional"):
            lower, upper = step["clip"]
            values = _cast(values.clip(lower=lower, upper=upper), dtype)
        impute = step.get("impute")
        if impute is not None:
            values = values.where(values.notna(), _cast_value(impute, dtype))
        cleaned[name] = values
    return data.assign(**cleaned) if cleaned else data
