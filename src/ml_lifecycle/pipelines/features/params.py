"""The typed `features` block (conf/base/parameters_features.yml)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ml_lifecycle.core.params import Params

TASKS = ("binary", "multiclass", "regression")
NORMALIZATIONS = ("zscore", "minmax", "log_zscore", "none")

Fraction = Annotated[float, Field(ge=0, le=1)]


def _normalization(method: str) -> str:
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization {method!r} is not one of {NORMALIZATIONS}")
    return method


class Categorical(Params):
    """A vocabulary of the top_k most frequent training values seen at least min_count times."""

    top_k: Annotated[int, Field(gt=0)]
    min_count: Annotated[int, Field(gt=0)] = 1  # optional, as parameters_features.yml says


# A time split's cut-off, in the type of its column: an ISO date or timestamp, or a number.
Cutoff = str | StrictInt | StrictFloat


class Cutoffs(Params):
    """Rows before `validation` train, before `test` validate; the nodes check the column's type."""

    validation: Cutoff
    test: Cutoff


class Fractions(Params):
    train: Fraction
    validation: Fraction
    test: Fraction

    @model_validator(mode="after")
    def _add_up(self) -> Fractions:
        if abs(self.train + self.validation + self.test - 1.0) > 1e-6:
            raise ValueError("train + validation + test must be 1")
        return self


class Split(Params):
    """By time (cut-offs, or quantiles with fractions) or random (seeded hash of ids).

    A time split orders rows by a date, timestamp or numeric column (a year, a sequence number).
    """

    method: Literal["time", "random"]
    time_column: str | None = None  # a time split's column (absent or null: a random split)
    cutoffs: Cutoffs | None = None  # absent or null: the time split uses fractions
    # Absent or null: the time split uses cutoffs; a random split needs it.
    fractions: Fractions | None = None
    id_columns: list[str]
    seed: int

    @model_validator(mode="after")
    def _complete(self) -> Split:
        if self.method == "time":
            if not self.time_column:
                raise ValueError("a time split needs a time_column")
            if (self.cutoffs is None) == (self.fractions is None):
                raise ValueError("a time split needs either cutoffs or fractions (the other null)")
        elif self.fractions is None:
            raise ValueError("a random split needs fractions")
        elif not self.id_columns:
            raise ValueError("a random split needs id_columns to hash")
        return self


class FeaturesParams(Params):
    """`features`: the task and label, the model's inputs, the split, the shards."""

    task: Literal[TASKS]  # type: ignore[valid-type]
    label: str  # a Spark SQL expression over the cleaned columns
    # Required by a multiclass task (label 0..K-1); null otherwise.
    class_names: list[str] | None
    forbidden: list[str]
    numeric: dict[str, Annotated[str, AfterValidator(_normalization)]]
    categorical: dict[str, Categorical]
    numeric_bins: Annotated[int, Field(ge=0)]  # 0: off
    passthrough: list[str]
    split: Split
    rows_per_shard: Annotated[int, Field(gt=0)]

    @field_validator("class_names")
    @classmethod
    def _multiclass_names(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if info.data.get("task") == "multiclass" and not names:
            raise ValueError("a multiclass task needs the names of its classes")
        return names

    @property
    def columns(self) -> list[str]:
        """The model's input columns in a stable order: numeric, then categorical."""
        return [*self.numeric, *self.categorical]
