"""Small Spark helpers shared by the stages: column checks, reasons, config validation."""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Iterator
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


def _close_hint(name: str, available: list[str]) -> str:
    close = difflib.get_close_matches(name, available, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def require_columns(available: Iterable[str], wanted: Iterable[str], where: str) -> None:
    """Raises ConfigError naming `where` and a close match when a wanted column does not exist."""
    available = list(available)
    for name in wanted:
        if name not in available:
            hint = _close_hint(name, available)
            raise ConfigError(
                f"{where}: column '{name}' does not exist.{hint} Available: {sorted(available)}."
            )


def spark_reason(exc: AnalysisException, available: Iterable[str]) -> str:
    """Returns Spark's analysis or parse error as one clause, without its plan or stack trace.

    An unresolved column is named with its closest match among `available`; any other error
    keeps Spark's first sentence (`[DATATYPE_MISMATCH...] Cannot resolve ...`) up to its SQLSTATE.
    """
    available = list(available)
    condition = exc.getCondition() or ""
    name = (exc.getMessageParameters() or {}).get("objectName", "")
    if condition.startswith("UNRESOLVED_COLUMN") and name:
        name = ".".join(part.strip("`") for part in re.split(r"`\.`", name))
        hint = _close_hint(name, available)
        return f"Spark cannot resolve the column '{name}'.{hint} Columns: {sorted(available)}"
    message = str(exc).split("\n", 1)[0]
    return re.split(r"\s*SQLSTATE:", message, maxsplit=1)[0].rstrip(" .;")


@contextlib.contextmanager
def resolving(where: str, available: Iterable[str]) -> Iterator[None]:
    """Turns a Spark analysis error raised inside the block into one ConfigError naming `where`.

    Spark analyses `withColumn`, `select` and `filter` when they are called; a block that builds
    a plan Spark analyses lazily should end by reading the frame's `schema`.
    """
    try:
        yield
    except AnalysisException as exc:  # ParseException is one too
        raise ConfigError(f"{where}: {spark_reason(exc, available)}.") from None


def checked_expr(
    df: DataFrame,
    sql: str,
    where: str,
    predicate: bool = False,
    available: Iterable[str] | None = None,
) -> Column:
    """Returns `sql` as a Column after checking that it resolves against `df` (and is boolean).

    `available` (default: all of `df`'s columns) are the columns an error message suggests.
    """
    try:
        column = F.expr(sql)
        dtype = df.select(column).schema.fields[0].dataType
    except (AnalysisException, ParseException) as exc:
        reason = spark_reason(exc, df.columns if available is None else available)
        raise ConfigError(f"{where}: the expression {sql!r} is invalid: {reason}.") from None
    if predicate and not isinstance(dtype, BooleanType):
        raise ConfigError(
            f"{where}: the expression {sql!r} is invalid: it must be true or false, "
            f"not {dtype.simpleString()}."
        )
    return column
