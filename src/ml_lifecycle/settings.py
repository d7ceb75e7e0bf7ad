"""Project settings: hooks, the config loader and where its files are."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from ml_lifecycle.hooks import MlflowRunHooks, SparkHooks
from ml_lifecycle.params_hooks import ValidateParamsHooks
from ml_lifecycle.summary import RunSummaryHooks
from ml_lifecycle.tracking.staged import CommitStaged
from ml_lifecycle.tracking.store_lock import AcquireMlflowStoreLock, ReleaseMlflowStoreLock

# kedro-mlflow's hook (one MLflow run per `kedro run`) registers itself from its entry point;
# MlflowRunHooks adds the project's tags, metrics, artifacts and failure record. CommitStaged
# commits the staged datasets (the `champion` alias) once the run succeeded.
# ValidateParamsHooks parses every parameter block the run's pipeline reads before a node starts.
# The store lock serialises a sqlite store's setup between concurrent runs: Release stays last.
HOOKS = (
    SparkHooks(),
    MlflowRunHooks(),
    CommitStaged(),
    ValidateParamsHooks(),
    AcquireMlflowStoreLock(),
    RunSummaryHooks(),  # the few lines every run ends with (ml_lifecycle.summary)
    ReleaseMlflowStoreLock(),
)

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


REPLACE = "_replace"

# The loader resolving a config now: `ml.conf_env_dir` answers for it (resolvers are global).
_RESOLVING: ContextVar[OmegaConfigLoader | None] = ContextVar("ml_lifecycle_loader", default=None)


def conf_env_dir() -> str:
    """The run's env folder of its conf source (conf/local by default), for files a run writes
    there (the tuned training keys); only inside the project's config loader."""
    loader = _RESOLVING.get()
    if loader is None:
        raise ValueError("ml.conf_env_dir resolves only inside the project's config loader.")
    env = loader.env or loader.default_run_env
    return str(Path(loader.conf_source).resolve() / env)


def _replacements(merged: Any, env: Any) -> Any:
    """`merged` with every mapping that `env` marks `_replace: true` taken from `env` whole.

    An empty mapping under a key of `env` means none: it replaces base's too (`derived: {}`).
    """
    if not isinstance(env, dict):
        return merged
    if env.get(REPLACE) is True:
        return {k: _replacements(v, v) for k, v in env.items() if k != REPLACE}
    if REPLACE in env:
        raise ValueError(f"'{REPLACE}' must be true when it is given, not {env[REPLACE]!r}.")
    if not isinstance(merged, dict):
        return merged
    return {
        k: ({} if env[k] == {} else _replacements(v, env[k])) if k in env else v
        for k, v in merged.items()
    }


class LifecycleConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader; a soft merge also honours `_replace: true`.

    Parameters merge key by key, so an env (conf/regression) names only what differs. A mapping
    that lists a dataset's own columns (features.numeric, cleaning.impute, the suite's
    expectations...) must not gain the sample's columns in an env of another dataset: there,
    `_replace: true` inside the mapping makes it replace base's instead of merging into it, and
    an empty mapping (`derived: {}`) replaces base's too: in an env, `{}` means none.
    """

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # Kedro registers a custom resolver only when none of that name exists. `%reload_kedro`
        # imports this module anew, so the first import's resolver would read the first
        # import's _RESOLVING, which this loader never sets: register this module's one.
        OmegaConf.register_new_resolver("ml.conf_env_dir", conf_env_dir, replace=True)

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        token = _RESOLVING.set(self)
        try:
            return super().__getitem__(key)
        finally:
            _RESOLVING.reset(token)

    def _soft_merge(self, config, env_config, env_path=None):  # noqa: ANN001, ANN202
        merged = super()._soft_merge(config, env_config, env_path)
        plain = OmegaConf.to_container(OmegaConf.create(env_config), resolve=False)
        return _replacements(merged, plain)

    def _resolve_from_raw_config(  # noqa: PLR0913
        self, key, base_configs, env_configs, base_path, env_path, processed_files
    ):  # noqa: ANN001, ANN202
        """Parameters: merge base and env first, then resolve the interpolations.

        Kedro resolves each env on its own before merging, so a reference in base
        (`inference.cleaning.rules: ${cleaning.rules}`) would keep base's value when an env
        changes `cleaning.rules`. Resolved after the merge, a reference means the run's value.
        """
        run_env = self.env or self.default_run_env
        if key != "parameters" or run_env == self.base_env or not processed_files:
            return super()._resolve_from_raw_config(
                key, base_configs, env_configs, base_path, env_path, processed_files
            )

        def unresolved(configs: dict) -> dict:
            merged = OmegaConf.unsafe_merge(*configs.values()) if configs else OmegaConf.create()
            return OmegaConf.to_container(merged, resolve=False)

        base, env = unresolved(base_configs), unresolved(env_configs)
        merged = self._soft_merge(base, env, env_path)
        return OmegaConf.to_container(
            OmegaConf.unsafe_merge(OmegaConf.create(merged), self.runtime_params), resolve=True
        )


CONFIG_LOADER_CLASS = LifecycleConfigLoader
# Expectation suites (conf/<env>/expectations/*.yml) load as parameters (`expectation_suite`).
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
