"""Project settings: hooks, the config loader and where its files are."""

from __future__ import annotations

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader

from ml_lifecycle.hooks import MlflowRunHooks, SparkHooks
from ml_lifecycle.store_lock import AcquireMlflowStoreLock, ReleaseMlflowStoreLock

# kedro-mlflow's hook (one MLflow run per `kedro run`) registers itself from its entry point;
# MlflowRunHooks adds the project's tags, metrics, artifacts, failure record and promotion.
# The store lock serialises a sqlite store's setup between concurrent runs: Release stays last.
HOOKS = (SparkHooks(), MlflowRunHooks(), AcquireMlflowStoreLock(), ReleaseMlflowStoreLock())

_ROOT = Path(__file__).resolve().parents[2]
PROJECT_ROOT = _ROOT if (_ROOT / "pyproject.toml").is_file() else Path.cwd()


def tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI when set, else sqlite:///<project>/mlflow.db (MLflow 3's default)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def artifact_root(uri: str) -> str | None:
    """Artifacts of a local sqlite store live beside it (<dir>/mlruns); a server chooses its own."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    # sqlite:////abs/path.db is absolute; sqlite:///name.db is relative to the working directory.
    return (Path(uri[len(prefix) :].split("?", maxsplit=1)[0]).resolve().parent / "mlruns").as_uri()


CONFIG_LOADER_CLASS = OmegaConfigLoader
# Expectation suites (conf/<env>/expectations/*.yml) load as parameters: one top-level key each.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An env (and `--params a.b=v`) changes only the keys it names; with Kedro's default
    # "destructive" merge, one key in conf/<env>/parameters*.yml would replace a whole section.
    "merge_strategy": {"parameters": "soft", "spark": "soft", "mlflow": "soft"},
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*", "expectations/**"],
    },
    "custom_resolvers": {
        "ml.tracking_uri": tracking_uri,
        "ml.artifact_root": artifact_root,
    },
}
