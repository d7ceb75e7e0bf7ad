"""The typed `registry` block (conf/base/parameters_registry.yml), read by `gate_model` and the
gate's pure logic (gate.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ml_lifecycle.core.params import Params


class RegistryParams(Params):
    """`registry`: the registered model's name and the gate to `champion`."""

    model_name: Annotated[str, Field(min_length=1)]
    minimum: dict[str, float | None]  # absolute bounds on test metrics (null removes one)
    maximum: dict[str, float | None]
    metric: str
    greater_is_better: bool
    margin: Annotated[float, Field(ge=0)]
