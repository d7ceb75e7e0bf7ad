"""Third-party start-up noise kept out of a run's log, set before TensorFlow is first imported.

Each default yields to what the shell sets: ``TF_CPP_MIN_LOG_LEVEL=0 kedro run`` shows
TensorFlow's C++ lines again, its import's too. The warnings filtered here say nothing a user of
this project can act on; conf/logging.yml quiets the loggers that do the same. PySpark's own
log of each analysis error it raises (with the Java stack trace) is quiet too.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

ENVIRONMENT = {
    # TensorFlow's C++ log (oneDNN, CPU features, "could not find cuda drivers", cuInit on a
    # machine without a GPU, factory registrations) and absl's "before InitializeLog" line.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
}

# (category, start of the message), after any leading terminal colour code.
WARNINGS = (
    # MLflow, for a PythonModel whose predict has no type hints: the model logs its signature.
    (UserWarning, "Add type hints to the `predict` method"),
    # Kedro, for the namespaced dataset names (inference.*) the project uses on purpose.
    (UserWarning, "One or more dataset names contain '.' characters"),
    # Keras, for fit(shuffle=True) on a tf.data.Dataset, which the input pipeline shuffles itself.
    (UserWarning, "`shuffle=True` was passed, but will be ignored"),
)
_COLOUR = r"(?:\x1b\[[0-9;]*m)?"


class KnownWarnings(logging.Filter):
    """Drops the captured warnings above from the `py.warnings` logger.

    MLflow raises its own filter to "once" around the type-hint check, so a warnings filter alone
    cannot hide that one; Kedro logs captured warnings through this logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(message in text for _, message in WARNINGS)


# PySpark logs every analysis error it raises, Java stack trace and all, as JSON to stderr, before
# the error itself reaches the code that catches it (a bad configured expression becomes one
# ConfigError sentence) or shows it (an uncaught one still prints Spark's message).
SPARK_ERROR_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")


class _SparkErrorLogger(logging.Logger):
    """PySpark's error loggers, created here: quiet (CRITICAL) unless a configuration lowers it.

    PySpark calls them with keyword arguments of its own (file, line, fragment, errorClass), which
    a plain logger refuses: they go into the record's `extra` instead.
    """

    def _log(self, level: int, msg: Any, args: Any, *rest: Any, **context: Any) -> None:
        names = ("exc_info", "extra", "stack_info", "stacklevel")
        own = {k: context.pop(k) for k in names if k in context}
        if context:
            own["extra"] = {**(own.get("extra") or {}), "context": context}
        super()._log(level, msg, args, *rest, **own)


def _quiet_spark_errors() -> None:
    """Sets PySpark's error loggers to CRITICAL, creating them first if PySpark has not yet."""
    default = logging.getLoggerClass()
    logging.setLoggerClass(_SparkErrorLogger)
    try:
        for name in SPARK_ERROR_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    finally:
        logging.setLoggerClass(default)


def quiet_third_parties() -> None:
    """Sets the environment defaults and the warning filters above (idempotent)."""
    quiet_import = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    for category, message in WARNINGS:
        warnings.filterwarnings("ignore", _COLOUR + re.escape(message), category)
    _quiet_spark_errors()
    captured = logging.getLogger("py.warnings")
    if not any(isinstance(f, KnownWarnings) for f in captured.filters):
        captured.addFilter(KnownWarnings())
    if quiet_import and "tensorflow" not in sys.modules:
        if not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietTensorFlowImport())


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """The process's file descriptor 2 (where C++ libraries write) goes to /dev/null."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs TensorFlow's first import with stderr muted.

    TensorFlow 2.19+ logs through absl before TF_CPP_MIN_LOG_LEVEL is read ("All log messages
    before absl::InitializeLog() ...", oneDNN, "Could not find cuda drivers"), straight to file
    descriptor 2. A failed import still raises its Python error once stderr is back.
    """

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module: Any) -> None:
            with _stderr_to_devnull():
                execute(module)

        loader.exec_module = exec_module
        return spec
