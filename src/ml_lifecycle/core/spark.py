"""Small Spark helpers shared by the stages: column checks, reasons, config validation."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import reduce

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DoubleType, FloatType, StringType

from ml_lifecycle.core.errors import ConfigError

REPLACEMENT_CHAR = "\ufffd"


def quote(name: str) -> str:
    """Returns `name` as a back-quoted Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def col(name: str) -> Column:
    """Returns the column `name`, safe for names with dots or spaces."""
    return F.col(quote(name))


def first_reason(checks: Iterable[tuple[Column, str]]) -> Column:
    """Returns the reason of the first check whose condition is true, else null."""
    whens = [F.when(condition, F.lit(reason)) for condition, reason in checks]
    return F.coalesce(*whens) if whens else F.lit(None).cast("string")


def float_columns(df: DataFrame) -> list[str]:
    """Returns the names of the float and double columns."""
    return [f.name for f in df.schema.fields if isinstance(f.dataType, DoubleType | FloatType)]


def string_columns(df: DataFrame) -> list[str]:
    """Returns the names of the string columns."""
    return [f.name for f in df.schema.fields if isinstance(f.dataType, StringType)]


def is_non_finite(c: Column) -> Column:
    """Returns true where `c` is +inf or -inf."""
    return c.isin(float("inf"), float("-inf"))


def null_if_nan(c: Column) -> Column:
    """Returns `c` with NaN turned into null: NaN means missing in this project."""
    return F.when(F.isnan(c), F.lit(None)).otherwise(c)


def has_invalid_utf8(columns: list[str]) -> Column:
    """Returns true where a string column holds U+FFFD, Spark's stand-in for undecodable bytes."""
    checks = [F.coalesce(F.instr(col(c), REPLACEMENT_CHAR) > 0, F.lit(False)) for c in columns]
    return reduce(Column.__or__, checks, F.lit(False))


def require_columns(available: Iterable[str], wanted: Iterable[str], where: str) -> None:
    """Raises ConfigError naming `where` and a close match when a wanted column does not exist."""
    available = list(available)
    for name in wanted:
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{where}: column '{name}' does not exist.{hint} Available: {sorted(available)}."
            )


def checked_expr(df: DataFrame, sql: str, where: str, predicate: bool = False) -> Column:
    """Returns `sql` as a Column after checking that it resolves against `df` (and is boolean)."""
    try:
        column = F.expr(sql)
        dtype = df.select(column).schema.fields[0].dataType
    except (AnalysisException, ParseException) as exc:
        message = str(exc).split("\n", 1)[0]
        raise ConfigError(f"{where}: the expression {sql!r} is invalid: {message}") from None
    if predicate and not isinstance(dtype, BooleanType):
        raise ConfigError(
            f"{where}: the expression {sql!r} is invalid: it must be true or false, "
            f"not {dtype.simpleString()}."
        )
    return column
