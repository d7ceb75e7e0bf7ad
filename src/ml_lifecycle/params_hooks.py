"""Every parameter block a run uses, validated before its first node starts.

Nodes keep receiving the catalog's plain dicts (kedro-mlflow logs them flattened, one MLflow
param per key) and parse them at their top with `ml_lifecycle.core.params.parse`; this hook makes
a mistake in any block the run's pipeline reads fail the run at once, in one sentence, instead
of hours later in the node that reads it.
"""

from __future__ import annotations

from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import Params, parse, source_file

PREFIX = "params:"
# `training_tuned` (conf/base/parameters_tune.yml) overrides keys of `training`.
TUNED = "training_tuned"


def block_models() -> dict[str, type[Params]]:
    """Returns {top-level parameter key: its model} for every stage that has one."""
    # Imported here: the stage packages import their pipelines, which import the hooks' settings.
    from ml_lifecycle.model.params import EvaluationParams, TrainingParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.cleaning.params import CleaningParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.data_quality.params import DataQualityParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.features.params import FeaturesParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.inference.params import InferenceParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.ingestion.params import IngestionParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.iterate.params import IterateParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.monitoring.params import MonitoringParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.profile.params import ProfileParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.registry.params import RegistryParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.synthetic.params import SyntheticParams  # noqa: PLC0415
    from ml_lifecycle.pipelines.tune.params import TuneParams  # noqa: PLC0415

    return {
        "ingestion": IngestionParams,
        "cleaning": CleaningParams,
        "data_quality": DataQualityParams,
        "features": FeaturesParams,
        "training": TrainingParams,
        "evaluation": EvaluationParams,
        "synthetic": SyntheticParams,
        "profile": ProfileParams,
        "inference": InferenceParams,
        "monitoring": MonitoringParams,
        "registry": RegistryParams,
        "iterate": IterateParams,
        "tune": TuneParams,
    }


def used_blocks(inputs: set[str]) -> list[str]:
    """Returns the top keys of the `params:` inputs (`params:inference.cleaning`: inference)."""
    return sorted(
        {name[len(PREFIX) :].split(".", 1)[0] for name in inputs if name.startswith(PREFIX)}
    )


def validate_blocks(
    parameters: dict[str, Any], blocks: list[str], env: str | None = None
) -> dict[str, Params]:
    """Returns each named block parsed into its model; raises ConfigError on the first mistake."""
    # Imported here, as in block_models.
    from ml_lifecycle.model.overrides import merge_tuned  # noqa: PLC0415
    from ml_lifecycle.pipelines.tune.params import parse_tune  # noqa: PLC0415

    models = block_models()
    parsed: dict[str, Params] = {}
    for key in blocks:
        if key not in models and key != TUNED:
            continue  # e.g. expectation_suite: parsed by the data-quality suite itself
        if key not in parameters:
            raise ConfigError(f"missing block {key} in {source_file(key, env)}.")
        if key == TUNED:  # an overlay of `training`: valid once merged onto it
            parsed[key], _ = merge_tuned(parameters.get("training") or {}, parameters[key], env)
        elif key == "tune":  # its space names training keys
            parsed[key] = parse_tune(parameters[key], env)
        else:
            parsed[key] = parse(models[key], parameters[key], key, env)
    return parsed


class ValidateParamsHooks:
    """Validates the run's parameter blocks in `before_pipeline_run`, before any node starts."""

    # Last, so the MLflow run kedro-mlflow starts in its own before_pipeline_run exists already.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Raises ConfigError, one sentence naming the dotted key, for an invalid block."""
        parameters = catalog.load("parameters") if "parameters" in catalog else {}
        try:
            validate_blocks(parameters, used_blocks(set(pipeline.inputs())), run_params.get("env"))
        except ConfigError as error:
            _fail_active_run(error)
            raise


def _fail_active_run(error: ConfigError) -> None:
    """Ends the run's MLflow run FAILED with the error: Kedro calls no on_pipeline_error hook
    for an error raised before the first node, and MLflow would otherwise end it FINISHED."""
    run = mlflow.active_run()
    if run is None:
        return
    client = mlflow.MlflowClient()
    client.set_tag(run.info.run_id, "error", f"{type(error).__name__}: {error}"[:4000])
    client.set_tag(run.info.run_id, "error_node", "(parameters, before the first node)")
    mlflow.end_run(status="FAILED")
