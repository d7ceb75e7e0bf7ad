"""Project commands that `kedro` adds to its own: `kedro iterate`."""

from __future__ import annotations

from typing import Any

import click
from kedro.framework.cli.project import CONF_SOURCE_HELP, PARAMS_ARG_HELP, run
from kedro.framework.cli.utils import _split_params, env_option, validate_conf_source

from ml_lifecycle.orchestration import iterate as iteration

# `ml-lifecycle` and `python -m ml_lifecycle` look `run` up here once this module exists.
__all__ = ["cli", "run"]


@click.group(name="ml_lifecycle")
def cli() -> None:
    """Commands of the ml-lifecycle project."""


@cli.command()
@env_option
@click.option("--conf-source", callback=validate_conf_source, help=CONF_SOURCE_HELP)
@click.option(
    "--params", type=click.UNPROCESSED, default="", help=PARAMS_ARG_HELP, callback=_split_params
)
def iterate(env: str | None, conf_source: str | None, params: dict[str, Any]) -> None:
    """Runs the iterate pipeline, then the retraining run its decision asks for, if any.

    The retraining is a `kedro run` of its own (a child MLflow run of the iterate run, in its own
    data folder); a failed retraining exits non-zero, naming its node, error and MLflow run.
    """
    try:
        # Only when given: without it, iterate reads the project's conf/ like `kedro run`.
        source = {"conf_source": conf_source} if conf_source else {}
        iteration.iterate(env=env, runtime_params=params, **source)
    except iteration.IterationFailed as error:
        raise click.ClickException(str(error)) from None
