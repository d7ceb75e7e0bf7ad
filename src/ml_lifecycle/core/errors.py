"""Errors that end a run with one sentence saying what is wrong and what to do."""

from kedro.io import DatasetError


class LifecycleError(Exception):
    """A problem in the data or the configuration that the user can fix."""


class SourceError(LifecycleError, DatasetError):
    """A raw source cannot be read as declared (missing files, wrong header, bad declaration).

    A DatasetError too, so Kedro passes it through unwrapped when a dataset raises it.
    """


class ConfigError(LifecycleError):
    """A parameter or catalog entry is invalid (unknown column, bad expression, bad option)."""


class RowAccountingError(LifecycleError):
    """A stage's outputs do not add up to its input: rows were lost or multiplied."""


class NoChampionError(LifecycleError, DatasetError):
    """The registered model has no `champion` version yet.

    A DatasetError too: the champion's dataset raises it, and Kedro passes it through unwrapped.
    """


class JavaNotFoundError(LifecycleError):
    """Spark needs a Java runtime and there is none."""
