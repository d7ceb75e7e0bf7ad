"""The typed `ingestion` block (conf/base/parameters_ingestion.yml)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from ml_lifecycle.core.params import Params


def _renames(columns: Any) -> Any:
    """A list of columns keeps their names: [a, b] is {a: a, b: b}."""
    return {c: c for c in columns} if isinstance(columns, list | tuple) else columns


class Join(Params):
    """One lookup joined to the main table."""

    source: str
    keys: Annotated[dict[str, str], Field(min_length=1)]  # {main column: lookup column}
    columns: Annotated[dict[str, str], BeforeValidator(_renames)]  # {lookup column: new name}
    # Optional per join, as parameters_ingestion.yml documents: left keeps unmatched rows,
    # inner quarantines them; a lookup is broadcast unless told otherwise; of duplicate lookup
    # rows the first by order_by (null: all other columns) is kept.
    how: Literal["left", "inner"] = "left"
    broadcast: bool = True
    order_by: list[str] | None = None


class IngestionParams(Params):
    """`ingestion`: the main source, the lookups joined to it, the derived columns."""

    main_source: str
    joins: list[Join]
    derived: dict[str, str]  # {column: Spark SQL expression}, evaluated in order
