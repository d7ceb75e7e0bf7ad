"""Concurrent `kedro run`s on one sqlite tracking store: serialise the store's setup.

MLflow creates a sqlite store's tables (alembic migrations) the first time a process opens it,
and kedro-mlflow then looks the experiment up and creates it when missing. Two runs that start
together on a fresh ``mlflow.db`` race through both steps: each migrates (``table
_alembic_tmp_tags already exists``) or creates the experiment (a UNIQUE constraint), and both
fail. Once set up, runs share the store safely: MLflow's sessions wait on a locked database
(``PRAGMA busy_timeout = 20000``, mlflow/store/db/utils.py) instead of failing.

So the setup alone is serialised, with an exclusive ``flock`` on ``<store>.lock`` beside the
database: taken before any hook of ``after_context_created`` runs (``tryfirst``) and released
by ``ReleaseMlflowStoreLock``, which ``settings.HOOKS`` lists last. Kedro registers project
hooks before plugins' and pluggy calls the latest registered first, so the release runs right
after kedro-mlflow's setup and before the project's other hooks (the SparkSession starts
unlocked). A process that dies holding the lock frees it: the kernel drops a dead process's flocks.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import IO, Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

_held: IO[str] | None = None


def sqlite_path(uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///<path>[?options]`` URI; None for any other store."""
    prefix = "sqlite:///"
    if not uri or not uri.startswith(prefix):
        return None
    path = uri[len(prefix) :].split("?", maxsplit=1)[0]
    return Path(path).resolve() if path and path != ":memory:" else None


def _configured_uri(context: Any) -> str | None:
    try:
        return context.config_loader["mlflow"]["server"]["mlflow_tracking_uri"]
    except Exception:  # noqa: BLE001 - no mlflow.yml: kedro-mlflow falls back to the env
        return os.environ.get("MLFLOW_TRACKING_URI")


def acquire(uri: str | None) -> None:
    """Takes the setup lock of a sqlite store (nothing for other stores); waits for it."""
    global _held  # noqa: PLW0603 - one lock per process
    path = sqlite_path(uri)
    if path is None or _held is not None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = Path(f"{path}.lock").open("a", encoding="utf-8")
    started = time.monotonic()
    fcntl.flock(handle, fcntl.LOCK_EX)
    waited = time.monotonic() - started
    if waited > 1:
        logger.info("Waited %.1f s for another run to set up the MLflow store %s", waited, path)
    _held = handle


def release() -> None:
    """Releases the lock if this process holds it."""
    global _held  # noqa: PLW0603
    if _held is not None:
        fcntl.flock(_held, fcntl.LOCK_UN)
        _held.close()
        _held = None


class AcquireMlflowStoreLock:
    """Takes the sqlite store's setup lock before kedro-mlflow opens the store."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        """Locks ``<store>.lock`` for the store's setup (see the module docstring)."""
        acquire(_configured_uri(context))


class ReleaseMlflowStoreLock:
    """Releases it once kedro-mlflow has set the store and experiment up (listed last in HOOKS)."""

    @hook_impl
    def after_context_created(self) -> None:
        """Unlocks ``<store>.lock``."""
        release()

    @hook_impl
    def after_catalog_created(self) -> None:
        """Unlocks it in any case before the run starts."""
        release()
