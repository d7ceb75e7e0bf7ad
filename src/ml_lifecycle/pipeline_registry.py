"""Project pipelines: one per lifecycle stage, `__default__` runs the lifecycle in order."""

from __future__ import annotations

import difflib
import re
from importlib import resources

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from ml_lifecycle.core.errors import ConfigError

# `synthetic` writes scale data into a landing folder, `profile` drafts a suite: tools, not stages.
# `inference`, `monitoring` (inference + drift) and `iterate` (monitoring + the decision to
# retrain, which `kedro iterate` acts on) work on a new batch with the champion, which moves only
# once the lifecycle run has succeeded: each runs on its own (`kedro run --pipelines inference`,
# `kedro iterate`; `make run` does that too). `tune` searches training keys on request (`make
# tune`) and writes them for the env's next training run.
NOT_IN_DEFAULT = ("synthetic", "profile", "inference", "monitoring", "iterate", "tune")


def pipeline_names() -> list[str]:
    """The names `kedro run --pipelines` accepts: one per package under ml_lifecycle.pipelines."""
    package = resources.files("ml_lifecycle.pipelines")
    return sorted(
        entry.name
        for entry in package.iterdir()
        if entry.is_dir() and not entry.name.startswith((".", "_"))
    )


def register_pipelines() -> dict[str, Pipeline]:
    """Returns every stage's pipeline by name, plus `__default__` (the whole lifecycle)."""
    try:
        pipelines = find_pipelines(raise_errors=True)
    except ImportError as error:
        # Kedro loads only the pipelines a run names, and a name with no package behind it
        # raises an ImportError with no cause: say which names exist instead.
        named = re.search(r"'ml_lifecycle\.pipelines\.([^']+)'", str(error))
        known = pipeline_names()
        if error.__cause__ is not None or not named or named.group(1) in known:
            raise
        unknown = named.group(1)
        close = difflib.get_close_matches(unknown, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"There is no pipeline named '{unknown}': {hint}"
            f"the pipelines are {', '.join(known)} (and __default__, the whole lifecycle)."
        ) from None
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in NOT_IN_DEFAULT), Pipeline([])
    )
    return pipelines
