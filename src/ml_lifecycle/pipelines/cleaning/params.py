"""The typed `cleaning` block (conf/base/parameters_cleaning.yml; `inference.cleaning` too)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from ml_lifecycle.core.params import Params

Scalar = bool | int | float | str


class Target(Params):
    column: str
    on_missing: Literal["quarantine", "fill"]
    fill_value: Scalar | None = None  # only with on_missing: fill

    @model_validator(mode="after")
    def _fill_needs_a_value(self) -> Target:
        if self.on_missing == "fill" and self.fill_value is None:
            raise ValueError("on_missing 'fill' needs a fill_value")
        return self


class Dedupe(Params):
    keys: Annotated[list[str], Field(min_length=1)]
    order_by: list[str] | None = None  # null: all other columns


class IqrOutlier(Params):
    method: Literal["iqr"]
    k: Annotated[float, Field(gt=0)]
    action: Literal["drop", "clip"]


class ZscoreOutlier(Params):
    method: Literal["zscore"]
    threshold: Annotated[float, Field(gt=0)]
    action: Literal["drop", "clip"]


Outlier = Annotated[IqrOutlier | ZscoreOutlier, Field(discriminator="method")]


class FittedImpute(Params):
    strategy: Literal["mean", "median", "mode"]


class ConstantImpute(Params):
    strategy: Literal["constant"]
    value: Scalar


def _impute_spec(spec: Any) -> Any:
    """`median` is {strategy: median}."""
    return {"strategy": spec} if isinstance(spec, str) else spec


Impute = Annotated[
    FittedImpute | ConstantImpute,
    Field(discriminator="strategy"),
    BeforeValidator(_impute_spec),
]


class CleaningParams(Params):
    """`cleaning`: the rules a row must pass, the outlier bounds and imputations fitted."""

    # null: no target rule (a batch to score has no label yet: inference.cleaning).
    target: Target | None
    required: list[str]
    types: dict[str, str]  # {column: Spark SQL type}
    rules: dict[str, str]  # {name: Spark SQL predicate}
    outliers: dict[str, Outlier]
    # null: no de-duplication.
    dedupe: Dedupe | None
    impute: dict[str, Impute]
    # null: statistics fitted on all rows.
    fit_filter: str | None
    quantile_accuracy: Annotated[int, Field(gt=0)]
