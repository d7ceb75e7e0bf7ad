"""Project settings: hooks, the config loader and where its files are."""

from kedro.config import OmegaConfigLoader

from ml_lifecycle.hooks import SparkHooks

HOOKS = (SparkHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
# Expectation suites (conf/<env>/expectations/*.yml) load as parameters: one top-level key each.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*", "expectations/**"],
    },
}
