"""Project pipelines: one per lifecycle stage, `__default__` runs the lifecycle in order."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# `synthetic` writes scale data into a landing folder, `profile` drafts a suite: tools, not stages.
# `inference`, `monitoring` (inference + drift) and `iterate` (monitoring + a retraining run when
# needed) work on a new batch with the champion, which moves only once the lifecycle run has
# succeeded: each runs on its own (`kedro run --pipeline inference`; `make run` does that too).
NOT_IN_DEFAULT = ("synthetic", "profile", "inference", "monitoring", "iterate")


def register_pipelines() -> dict[str, Pipeline]:
    """Returns every stage's pipeline by name, plus `__default__` (the whole lifecycle)."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in NOT_IN_DEFAULT), Pipeline([])
    )
    return pipelines
