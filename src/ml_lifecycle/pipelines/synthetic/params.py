"""The typed `synthetic` block (conf/base/parameters_synthetic.yml)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from ml_lifecycle.core.params import Params

Rate = Annotated[float, Field(ge=0, le=1)]


class DistinctKey(Params):
    column: str
    stride: Annotated[int, Field(gt=0)]


class Jitter(Params):
    """Gaussian noise: absolute (sd) or relative to the value (relative_sd), one of the two."""

    sd: Annotated[float, Field(ge=0)] | None = None
    relative_sd: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Jitter:
        if (self.sd is None) == (self.relative_sd is None):
            raise ValueError("set one of sd or relative_sd")
        return self


class Malformed(Params):
    rate: Rate
    text_in_column: str
    extra_field_in_column: str


class Outliers(Params):
    rate: Rate
    columns: Annotated[list[str], Field(min_length=1)]
    factor: float


class Faults(Params):
    """Faults injected; one left out (or null) is not injected (`faults: {}`: a clean batch)."""

    duplicate_rate: Rate | None = None
    malformed: Malformed | None = None
    outliers: Outliers | None = None


class ShiftValue(Params):
    """A share `rate` of the rows (all when left out) take `value`."""

    value: bool | int | float | str
    rate: Rate = 1.0


class ShiftNumber(Params):
    """Numbers become x * scale + add (scale 1 and add 0 when left out)."""

    scale: float = 1.0
    add: float = 0.0


def _shift(spec: Any) -> Any:
    if isinstance(spec, dict) and "value" not in spec:
        unknown = set(spec) - {"add", "scale"}
        if unknown or not spec:
            raise ValueError(f"use {{value, rate}} or {{add, scale}}, not {sorted(unknown)}")
    return spec


Shift = Annotated[ShiftValue | ShiftNumber, BeforeValidator(_shift)]


class SyntheticParams(Params):
    """`synthetic`: rows generated from a real source, with faults and an optional shift."""

    source: str
    rows: Annotated[int, Field(gt=0)]
    seed: int
    rows_per_file: Annotated[int, Field(gt=0)]
    distinct_key: DistinctKey | None  # null: copies keep the real key
    jitter: dict[str, Jitter]
    faults: Faults
    shift: dict[str, Shift]  # {}: the batch looks like the sample
