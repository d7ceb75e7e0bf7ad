"""The typed `data_quality` block (conf/base/parameters_data_quality.yml).

The suite itself (`expectation_suite`, with `data_quality_overrides`) is parsed by `suite.py`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ml_lifecycle.core.params import Params


class DataQualityParams(Params):
    """`data_quality`: how the suite is run."""

    example_values: Annotated[int, Field(ge=0)]
    cache: bool
