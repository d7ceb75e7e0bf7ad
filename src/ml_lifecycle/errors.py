"""Errors that end a run with one sentence saying what is wrong and what to do."""


class LifecycleError(Exception):
    """A problem in the data or the configuration that the user can fix."""


class SourceError(LifecycleError):
    """A raw source cannot be read as declared (missing files, wrong header, bad declaration)."""


class ConfigError(LifecycleError):
    """A parameter or catalog entry is invalid (unknown column, bad expression, bad option)."""


class RowAccountingError(LifecycleError):
    """A stage's outputs do not add up to its input: rows were lost or multiplied."""
