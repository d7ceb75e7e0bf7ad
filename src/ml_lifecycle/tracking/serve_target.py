"""What `make serve` serves: the champion of the env's registered model, from Kedro's config.

``python -m ml_lifecycle.tracking.serve_target [--env regression] [--name]`` prints the pinned
``models:/<name>/<version>`` of the env's ``registry.model_name`` at its ``champion`` alias (the
name alone with ``--name``, which needs no tracking store). Without a champion it prints one
sentence saying how to get one and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from ml_lifecycle.core.errors import LifecycleError

CHAMPION = "champion"


class NoChampionToServeError(LifecycleError):
    """The env's registered model has no champion version to serve."""


def _config_loader(env: str | None, project_path: Path) -> Any:
    from kedro.framework.project import settings  # noqa: PLC0415 - only once bootstrapped
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project_path)
    return settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_path / settings.CONF_SOURCE),
        env=env,
        **settings.CONFIG_LOADER_ARGS,
    )


def model_name(config: Any) -> str:
    """Returns the registered model's name: `registry.model_name`, else globals' `model_name`."""
    name = ((config["parameters"] or {}).get("registry") or {}).get("model_name")
    if not name:
        try:
            name = (config["globals"] or {}).get("model_name")
        except Exception:  # noqa: BLE001 - an env without globals names no model there
            name = None
    if not name:
        raise LifecycleError(
            "No registered model is configured: set `model_name` in conf/<env>/globals.yml."
        )
    return str(name)


def tracking_uri(config: Any) -> str:
    """Returns the env's tracking store (mlflow.yml: server.mlflow_tracking_uri)."""
    return str(config["mlflow"]["server"]["mlflow_tracking_uri"])


def champion_uri(name: str, uri: str, env: str | None = None) -> str:
    """Returns models:/<name>/<version> of the champion; raises NoChampionToServeError without."""
    from mlflow import MlflowClient  # noqa: PLC0415 - mlflow loads only when a store is asked
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    run = "kedro run" + (f" --env {env}" if env else "")
    missing = NoChampionToServeError(
        f"Nothing to serve: the registered model '{name}' has no '{CHAMPION}' version in "
        f"{uri}, so train and gate one first with `{run}`."
    )
    # Asking a sqlite store that is not there would create an empty one.
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not Path(uri[len(prefix) :].split("?", 1)[0]).exists():
        raise missing
    try:
        version = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
            name, CHAMPION
        )
    except MlflowException:
        raise missing from None
    return f"models:/{name}/{version.version}"


def main(argv: list[str] | None = None, project_path: Path | None = None) -> int:
    """Prints the serve target of the env (or its model name); 1 with one sentence on an error."""
    parser = argparse.ArgumentParser(prog="python -m ml_lifecycle.tracking.serve_target")
    parser.add_argument("--env", default=None, help="Kedro env (default: the project's default)")
    parser.add_argument("--name", action="store_true", help="print the model name only")
    parser.add_argument("--model-name", default=None, help="serve this model instead")
    args = parser.parse_args(argv)
    root = project_path or Path.cwd()
    out = sys.stdout
    try:
        # Kedro's and MLflow's log lines go to stderr: stdout is the answer alone (`$(...)`).
        with contextlib.redirect_stdout(sys.stderr):
            config = _config_loader(args.env, root)
            name = args.model_name or model_name(config)
            answer = name if args.name else champion_uri(name, tracking_uri(config), args.env)
    except LifecycleError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    out.write(f"{answer}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
