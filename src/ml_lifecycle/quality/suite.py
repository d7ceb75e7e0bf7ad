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

from ml_lifecycle.errors import ConfigError
from ml_lifecycle.spark_utils import checked_expr, col, require_columns

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

    def to_gx(self) -> gx.expectations.Expectation:
        """Returns the GX Core expectation of this entry."""
        return _gx_class(self.type, self.name)(
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
    expectations = []
    for key, raw in declared.items():
        for name, spec in _entries(key, raw, f"{where}.expectations.{key}"):
            at = f"{where}.expectations.{name}"
            severity = spec.get("severity", "critical")
            if severity not in SEVERITIES:
                raise ConfigError(f"{at}: severity must be one of {SEVERITIES}, not {severity!r}.")
            kwargs = {k: v for k, v in spec.items() if k not in OWN_KEYS}
            exp = Expectation(
                name=name,
                type=spec["type"],
                kwargs=kwargs,
                severity=severity,
                quarantine=bool(spec.get("quarantine", False)),
                notes=spec.get("notes"),
            )
            if exp.type == "expect_column_values_to_be_between" and all(
                kwargs.get(k) is None for k in ("min_value", "max_value")
            ):
                raise ConfigError(f"{at}: set min_value, max_value or both.")
            if exp.quarantine and not exp.row_level:
                raise ConfigError(
                    f"{at}: quarantine works for row-level expectations only "
                    f"({', '.join(sorted(EXPECTED))}), not {exp.type}."
                )
            try:
                exp.to_gx()
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


def with_derived(df: DataFrame, suite: Suite) -> DataFrame:
    """Returns `df` with the suite's derived columns added (checked before any job runs)."""
    where = f"{suite.name}.derived"
    for name, sql in suite.derived.items():
        df = df.withColumn(name, checked_expr(df, sql, f"{where}.{name}"))
    return df


def check_columns(df: DataFrame, suite: Suite) -> None:
    """Raises ConfigError naming the expectation when one reads a column `df` does not have."""
    for exp in suite.expectations:
        require_columns(df.columns, exp.columns, f"{suite.name}.expectations.{exp.name}")


def prepare(df: DataFrame, suite: Suite) -> DataFrame:
    """Returns the derived columns plus only the columns the suite reads, after checking them."""
    derived = with_derived(df, suite)
    check_columns(derived, suite)
    return derived.select(*[col(c) for c in suite.columns])
