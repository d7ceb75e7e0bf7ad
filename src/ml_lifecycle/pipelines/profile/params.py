"""The typed `profile` block (conf/base/parameters_profile.yml)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ml_lifecycle.core.params import Params

Fraction = Annotated[float, Field(ge=0, le=1)]


class ProfileParams(Params):
    """`profile`: the statistics computed and the starter suite drafted from them."""

    suite_name: str
    quantiles: list[Fraction]
    quantile_accuracy: Annotated[int, Field(gt=0)]
    top_values: Annotated[int, Field(ge=0)]
    max_set_size: Annotated[int, Field(ge=0)]
    row_count_tolerance: Annotated[float, Field(ge=0)]
    exclude: list[str]
