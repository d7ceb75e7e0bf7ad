"""Expectation suites declared in YAML: parsed, checked and turned into GX Core expectations.

One configuration entry yields both the GX expectation (what the report shows) and, for row-level
kinds, the Spark predicate of its offending rows (what quarantine removes), so the two cannot
disagree. Every check here runs on the schema only: a bad suite fails before any Spark job.

An entry (key = the expectation's name)::

    month_in_range:
      type: expect_column_values_to_be_between   # any GX Core 1.x expectation
      column: month                              # a list expands to one expectation per column
      min_value: 1                               # every other key is a GX keyword argument
      max_value: 12
      severity: critical                         # critical (stop the run) | warning (log, go on)
      quarantine: true                           # row-level kinds only: offending rows leave
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.spark import checked_expr, col, require_columns

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402  (GX reads its analytics switch at import)

SEVERITIES = ("critical", "warning")
# Keys of an entry that are ours, not GX keyword arguments.
OWN_KEYS = ("type", "severity", "quarantine", "notes")
# GX keyword arguments that name columns, checked against the schema.
COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def _between(c: Column, kw: dict[str, Any]) -> Column:
    # The same condition, operator for operator, as GX's Spark ColumnValuesBetween metric.
    low, high = kw.get("min_value"), kw.get("max_value")
    above = None if low is None else (c > F.lit(low) if kw.get("strict_min") else c >= F.lit(low))
    below = (
        None if high is None else (c < F.lit(high) if kw.get("strict_max") else c <= F.lit(high))
    )
    if above is None:
        return below
    return above if below is None else above & below


# Row-level kinds: the condition a valid value meets, as GX's Spark metric writes it. GX counts a
# row as unexpected when the value is not null and the condition is false (not_be_null: when null).
EXPECTED: dict[str, Callable[[Column, dict[str, Any]], Column]] = {
    "expect_column_values_to_not_be_null": lambda c, kw: c.isNotNull(),
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": lambda c, kw: c.isin(list(kw["value_set"])),
    "expect_column_values_to_not_be_in_set": lambda c, kw: ~c.isin(list(kw["value_set"])),
    "expect_column_values_to_match_regex": lambda c, kw: c.rlike(kw["regex"]),
    "expect_column_values_to_not_match_regex": lambda c, kw: ~c.rlike(kw["regex"]),
}
# Kinds whose failure is about repeated values: examples are the repeated keys.
UNIQUENESS = {
    "expect_column_values_to_be_unique": "column",
    "expect_column_proportion_of_unique_values_to_be_between": "column",
    "expect_compound_columns_to_be_unique": "column_list",
}


@dataclass(frozen=True)
class Expectation:
    """One checked entry of a suite: its name, GX type and kwargs, and how a failure is handled."""

    name: str
    type: str
    kwargs: dict[str, Any]
    severity: str = "critical"
    quarantine: bool = False
    notes: str | None = None

    @property
    def columns(self) -> list[str]:
        """Returns the columns this expectation reads."""
        names = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        return names + list(self.kwargs.get("column_list", []))

    @property
    def row_level(self) -> bool:
        """Returns whether each row passes or fails on its own (so rows can be quarantined)."""
        return self.type in EXPECTED

    def unexpected(self) -> Column:
        """Returns true on exactly the rows GX counts as unexpected (row-level kinds only)."""
        c = col(self.kwargs["column"])
        expected = EXPECTED[self.type](c, self.kwargs)
        if self.type != "expect_column_values_to_not_be_null":
            expected = c.isNull() | expected
        return F.coalesce(~expected, F.lit(False))

    def to_gx(self, where: str | None = None) -> gx.expectations.Expectation:
        """Returns the GX Core expectation of this entry."""
        return _gx_class(self.type, where or self.name)(
            **self.kwargs,
            severity=self.severity,
            meta={"name": self.name, "quarantine": self.quarantine},
            **({"notes": self.notes} if self.notes else {}),
        )


@dataclass(frozen=True)
class Suite:
    """A parsed suite: its name, the columns derived for validation, and its expectations."""

    name: str
    derived: dict[str, str] = field(default_factory=dict)
    expectations: tuple[Expectation, ...] = ()

    @property
    def quarantining(self) -> list[Expectation]:
        """Returns the expectations whose offending rows are quarantined."""
        return [e for e in self.expectations if e.quarantine]

    @property
    def columns(self) -> list[str]:
        """Returns every column the suite reads, in first-use order."""
        names = [c for e in self.expectations for c in e.columns]
        return list(dict.fromkeys(names))

    def get(self, name: str) -> Expectation:
        """Returns the expectation called `name`."""
        return next(e for e in self.expectations if e.name == name)


def _gx_class(kind: str, where: str) -> type:
    if not re.fullmatch(r"expect_[a-z0-9_]+", str(kind)):
        raise ConfigError(f"{where}: type {kind!r} is not a GX expectation (expect_...).")
    class_name = "".join(part.capitalize() for part in kind.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        known = [_snake(n) for n in dir(gx.expectations) if n.startswith("Expect")]
        close = difflib.get_close_matches(kind, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{where}: unknown expectation type '{kind}'.{hint}")
    return cls


def _check_bounds(exp: Expectation, at: str) -> None:
    # GX checks these only when it computes the metric, after the Spark jobs have run.
    if not exp.type.endswith("_to_be_between"):
        return
    low, high = exp.kwargs.get("min_value"), exp.kwargs.get("max_value")
    if exp.type == "expect_column_values_to_be_between" and low is None and high is None:
        raise ConfigError(f"{at}: set min_value, max_value or both.")
    numbers = (int, float)
    if isinstance(low, numbers) and isinstance(high, numbers) and low > high:
        raise ConfigError(f"{at}: min_value {low!r} is greater than max_value {high!r}.")


def _snake(class_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def _entries(name: str, spec: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"{where}: each expectation needs a 'type' (e.g. expect_...).")
    if isinstance(spec.get("column"), list):
        return [(f"{name}:{c}", {**spec, "column": c}) for c in spec["column"]]
    return [(name, dict(spec))]


def parse_suite(
    config: dict[str, Any], overrides: dict[str, Any] | None = None, where: str = "suite"
) -> Suite:
    """Returns the suite declared in `config`, with `overrides` ({name: {key: value}}) applied."""
    if not isinstance(config, dict) or not config.get("expectations"):
        raise ConfigError(f"{where}: a suite needs 'name' and a mapping of 'expectations'.")
    declared = copy.deepcopy(config["expectations"])
    for name, changes in (overrides or {}).items():
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: the override '{name}' names no expectation.{hint}")
        declared[name] = {**declared[name], **changes}
    expectations, seen = [], set()
    for key, raw in declared.items():
        for name, spec in _entries(key, raw, f"{where}.expectations.{key}"):
            at = f"{where}.expectations.{name}"
            severity = spec.get("severity", "critical")
            if severity not in SEVERITIES:
                raise ConfigError(f"{at}: severity must be one of {SEVERITIES}, not {severity!r}.")
            kwargs = {k: v for k, v in spec.items() if k not in OWN_KEYS}
            quarantine = spec.get("quarantine", False)
            if not isinstance(quarantine, bool):
                raise ConfigError(f"{at}: quarantine must be true or false, not {quarantine!r}.")
            if name in seen:
                raise ConfigError(f"{at}: two expectations are called '{name}'.")
            seen.add(name)
            exp = Expectation(
                name=name,
                type=spec["type"],
                kwargs=kwargs,
                severity=severity,
                quarantine=quarantine,
                notes=spec.get("notes"),
            )
            _check_bounds(exp, at)
            if exp.quarantine and not exp.row_level:
                raise ConfigError(
                    f"{at}: quarantine works for row-level expectations only "
                    f"({', '.join(sorted(EXPECTED))}), not {exp.type}."
                )
            try:
                exp.to_gx(at)
            except ConfigError:
                raise
            except Exception as exc:  # GX validates its kwargs with pydantic
                detail = " ".join(str(exc).split())
                raise ConfigError(f"{at}: invalid arguments for {exp.type}: {detail}") from None
            expectations.append(exp)
    return Suite(
        name=str(config.get("name", where)),
        derived=dict(config.get("derived") or {}),
        expectations=tuple(expectations),
    )


# Kinds whose column must be numeric (with numeric bounds), or a string.
NUMERIC = (
    "expect_column_values_to_be_between",
    "expect_column_mean_to_be_between",
    "expect_column_median_to_be_between",
    "expect_column_stdev_to_be_between",
    "expect_column_sum_to_be_between",
)
STRING = (
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_value_lengths_to_be_between",
)


def with_derived(df: DataFrame, suite: Suite) -> DataFrame:
    """Returns `df` with the suite's derived columns added (checked before any job runs)."""
    where = f"{suite.name}.derived"
    for name, sql in suite.derived.items():
        df = df.withColumn(name, checked_expr(df, sql, f"{where}.{name}"))
    return df


def check_columns(df: DataFrame, suite: Suite) -> None:
    """Raises ConfigError naming the expectation when one reads a column `df` does not have, a
    column of the wrong type, or a regex Spark cannot compile (schema only, no Spark job)."""
    types = {f.name: f.dataType for f in df.schema.fields}
    for exp in suite.expectations:
        at = f"{suite.name}.expectations.{exp.name}"
        require_columns(df.columns, exp.columns, at)
        column = exp.kwargs.get("column")
        if column is None:
            continue
        dtype = types[column]
        bounds = [exp.kwargs.get(k) for k in ("min_value", "max_value")]
        numeric_bounds = any(isinstance(b, int | float) for b in bounds)
        if exp.type in NUMERIC and numeric_bounds and not isinstance(dtype, NumericType):
            raise ConfigError(
                f"{at}: {exp.type} needs a numeric column; '{column}' is "
                f"{dtype.simpleString()} (derive a numeric column under 'derived')."
            )
        if exp.type in STRING and not isinstance(dtype, StringType):
            raise ConfigError(
                f"{at}: {exp.type} needs a string column; '{column}' is {dtype.simpleString()} "
                "(derive a string column under 'derived', e.g. CAST(x AS STRING))."
            )
        if "regex" in exp.kwargs:
            _check_regex(df, str(exp.kwargs["regex"]), at)


def _check_regex(df: DataFrame, regex: str, at: str) -> None:
    # Spark's rlike is Java's regex dialect: compile it there when the JVM is at hand.
    jvm = getattr(df.sparkSession, "_jvm", None)
    try:
        if jvm is not None:
            jvm.java.util.regex.Pattern.compile(regex)
        else:
            re.compile(regex)
    except Exception as exc:  # Py4JJavaError (PatternSyntaxException) or re.error
        detail = str(exc).strip().splitlines()
        message = next((line for line in detail if "PatternSyntaxException" in line), detail[0])
        raise ConfigError(f"{at}: the regex {regex!r} is invalid: {message}") from None


def with_derived_checked(df: DataFrame, suite: Suite) -> DataFrame:
    """Returns `df` with the derived columns, after checking every column the suite reads."""
    derived = with_derived(df, suite)
    check_columns(derived, suite)
    return derived


def prepare(df: DataFrame, suite: Suite) -> DataFrame:
    """Returns the derived columns plus only the columns the suite reads, after checking them."""
    return with_derived_checked(df, suite).select(*[col(c) for c in suite.columns])
