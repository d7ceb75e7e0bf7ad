"""Project settings: hooks, the config loader and where its files are."""

from kedro.config import OmegaConfigLoader

from ml_lifecycle.hooks import SparkHooks

HOOKS = (SparkHooks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
# Expectation suites (conf/<env>/expectations/*.yml) load as parameters: one top-level key each.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An env (and `--params a.b=v`) changes only the keys it names; with Kedro's default
    # "destructive" merge, one key in conf/<env>/parameters*.yml would replace a whole section.
    "merge_strategy": {"parameters": "soft", "spark": "soft"},
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*", "expectations/**"],
    },
}
