"""The MLflow model registry as Kedro datasets: the champion, a new version, the gate's update.

Aliases (MLflow 3; stages are deprecated):

- ``challenger``: the latest version that passed the gate, set when its update is saved;
- ``champion``: the version that scores new data. It moves only in
  :meth:`RegistryUpdateDataset.commit`, which :class:`ml_lifecycle.tracking.staged.CommitStaged`
  calls once every node of the run succeeded (never in a run that failed);
- ``previous``: the champion it replaced (one step of rollback: move ``champion`` back to it).

Nodes never call MLflow: they take what these datasets load and return what they save.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml_lifecycle.core.errors import ConfigError, NoChampionError

from .atomic import AtomicJSONDataset

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
# The model flavors a registry dataset can load with the version it resolved.
FLAVORS = ("keras", "spark_udf")
# Keras safe mode: a model file cannot run arbitrary Python (e.g. a Lambda layer) on load.
SAFE = {"safe_mode": True}
# MLflow signature column types -> the Spark type each feature is cast to before scoring.
SPARK_TYPES = {
    "double": "double",
    "float": "float",
    "long": "bigint",
    "integer": "int",
    "string": "string",
    "boolean": "boolean",
    "datetime": "timestamp",
}


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """Returns the version `alias` points to, or None (also when the model is absent)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def no_champion(client: MlflowClient, name: str, alias: str = CHAMPION) -> NoChampionError:
    """Returns the one-sentence error of a model without `alias`, saying how to get one."""
    return NoChampionError(
        f"The registered model '{name}' has no '{alias}' version in "
        f"{client._registry_uri}. Train and gate one first: `kedro run` (the whole lifecycle) "
        "or `kedro run --pipelines training,evaluation,registry`."
    )


def register(client: MlflowClient, model_uri: str, name: str, run_id: str | None) -> str:
    """Registers `model_uri` as a new version of `name` (created if new); returns the version."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Gated by ml-lifecycle's registry pipeline; see the aliases."
        )
    version = client.create_model_version(name, model_uri, run_id=run_id)
    logger.info("Registered %s version %s from %s", name, version.version, model_uri)
    return str(version.version)


def promote(client: MlflowClient, update: dict[str, Any]) -> str:
    """Moves `champion` to a version that passed (the old one becomes `previous`); returns how."""
    name, version = update["model_name"], update["version"]
    if not update["passed"]:
        logger.info("Gate: %s version %s stays out: %s", name, version, update["reasons"])
        return f"rejected version {version}: " + "; ".join(update["reasons"])
    current = alias_version(client, name, CHAMPION)
    current = None if current is None else str(current.version)
    if current == version:
        return f"version {version} is already the champion"
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "promoted_at", datetime.now(UTC).isoformat())
    logger.info("Gate: %s version %s is the champion (previous: %s)", name, version, current)
    return f"promoted version {version} to champion (previous: {current})"


def _check_flavor(flavor: str | None) -> None:
    if flavor is not None and flavor not in FLAVORS:
        raise ConfigError(f"flavor must be one of {', '.join(FLAVORS)} (or null), not {flavor!r}.")


def _load_keras(uri: str) -> Any:
    import ml_lifecycle.model.layers  # noqa: F401, PLC0415 - registers the custom layers

    return mlflow.keras.load_model(uri, load_model_kwargs=SAFE)


class ChampionDataset(AbstractDataset[None, dict[str, Any] | None]):
    """The registered model's `alias` version, pinned once, with its run's artifacts.

    Load resolves ``models:/<model_name>@<alias>`` to ONE version and returns a dict:
    ``model_name``, ``alias``, ``model_version``, ``model_run_id``, ``model_uri`` (the pinned
    ``models:/<name>/<version>``, so a promotion during the run cannot mix two versions),
    ``source``, ``task``, ``outputs``, ``features`` (raw feature -> Spark type, from the
    signature), ``resolved_at``; ``artifacts``: each JSON artifact of ``artifacts`` (key -> path
    in the version's run) parsed, None for a key of ``optional_artifacts`` the run lacks; and,
    by ``flavor``, ``model`` (``keras``: the Keras model) or ``udf`` (``spark_udf``: a Spark UDF
    of the pyfunc on the active SparkSession, ``udf_args`` passed to ``mlflow.pyfunc.spark_udf``,
    e.g. ``env_manager``). Without that version: NoChampionError, or None when ``required`` is
    false (the gate's first run). Wrap it in ``kedro.io.CachedDataset`` (``copy_mode: assign``)
    so every node of a run reads the same resolution.
    """

    def __init__(  # noqa: PLR0913 - the registry's coordinates and what to bring along
        self,
        model_name: str,
        alias: str = CHAMPION,
        artifacts: dict[str, str] | None = None,
        optional_artifacts: list[str] | None = None,
        flavor: str | None = None,
        udf_args: dict[str, Any] | None = None,
        required: bool = True,
        metadata: dict[str, Any] | None = None,
    ):
        _check_flavor(flavor)
        unknown = sorted(set(optional_artifacts or ()) - set(artifacts or {}))
        if unknown:
            raise ConfigError(f"optional_artifacts names no artifact: {unknown}.")
        self._name, self._alias, self._flavor = model_name, alias, flavor
        self._artifacts = dict(artifacts or {})
        self._optional = set(optional_artifacts or ())
        self._udf_args = dict(udf_args or {})
        self._required = required
        self.metadata = metadata

    def load(self) -> dict[str, Any] | None:
        client = MlflowClient()
        version = alias_version(client, self._name, self._alias)
        if version is None:
            if not self._required:
                logger.info("%s has no '%s' version yet", self._name, self._alias)
                return None
            raise no_champion(client, self._name, self._alias)
        uri = f"models:/{self._name}/{version.version}"
        info = mlflow.models.get_model_info(uri)
        if info.signature is None or info.signature.inputs is None:
            raise ConfigError(
                f"{uri} has no input signature: log models with ml_lifecycle.model.serving."
                "log_model."
            )
        outputs = [spec.name for spec in info.signature.outputs.inputs]
        champion: dict[str, Any] = {
            "model_name": self._name,
            "alias": self._alias,
            "model_version": str(version.version),
            "model_run_id": version.run_id,
            "model_uri": uri,
            "source": version.source,
            "task": (info.metadata or {}).get("task"),
            "outputs": outputs,
            "features": {s.name: SPARK_TYPES[s.type.name] for s in info.signature.inputs.inputs},
            "resolved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        champion["artifacts"] = {
            key: self._artifact(champion, key, path) for key, path in self._artifacts.items()
        }
        if self._flavor == "keras":
            champion["model"] = _load_keras(uri)
        elif self._flavor == "spark_udf":
            champion["udf"] = self._udf(uri, outputs)
        logger.info(
            "%s@%s is version %s (run %s)", self._name, self._alias, version.version, version.run_id
        )
        return champion

    def _artifact(self, champion: dict[str, Any], key: str, path: str) -> Any:
        run_id = champion["model_run_id"]
        with TemporaryDirectory() as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=tmp
                )
            except (MlflowException, OSError):
                if key in self._optional:
                    return None
                raise ConfigError(
                    f"{self._name} v{champion['model_version']}: its run {run_id} has no {path}."
                ) from None
            return json.loads(Path(local).read_text(encoding="utf-8"))

    def _udf(self, uri: str, outputs: list[str]) -> Any:
        from pyspark.sql import SparkSession  # noqa: PLC0415 - Spark only for a Spark UDF
        from pyspark.sql.types import DoubleType, StructField, StructType  # noqa: PLC0415

        # One output is a column of doubles; several (a class each) come back as one struct.
        if len(outputs) == 1:
            result_type: Any = DoubleType()
        else:
            result_type = StructType([StructField(c, DoubleType()) for c in outputs])
        spark = SparkSession.builder.getOrCreate()
        return mlflow.pyfunc.spark_udf(spark, uri, result_type=result_type, **self._udf_args)

    def save(self, data: None) -> None:
        raise DatasetError(f"{self!s} is read-only: the registry's aliases move through the gate.")

    def _describe(self) -> dict[str, Any]:
        return {
            "model_name": self._name,
            "alias": self._alias,
            "artifacts": self._artifacts,
            "flavor": self._flavor,
        }


class RegistryVersionDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """A new version of the registered model `model_name`, and a pointer file to it.

    Save takes ``{"model_uri": <a logged model>, "run_id": <its run or None>}``, registers it
    as a new version (creating the registered model if new) and writes ``{"name", "version",
    "model_uri": "models:/<name>/<version>", "source", "run_id"}`` to `filepath` (any fsspec
    filesystem, all-or-nothing). Load returns that pointer, with ``model`` when ``flavor`` is
    ``keras`` (the version's Keras model, loaded in safe mode).
    """

    def __init__(
        self,
        model_name: str,
        filepath: str,
        flavor: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        _check_flavor(flavor)
        if flavor == "spark_udf":
            raise ConfigError("RegistryVersionDataset loads flavor keras (or none), not spark_udf.")
        self._name, self._flavor = model_name, flavor
        self._pointer = AtomicJSONDataset(filepath=filepath)
        self.metadata = metadata

    def save(self, data: dict[str, Any]) -> None:
        version = register(MlflowClient(), data["model_uri"], self._name, data.get("run_id"))
        self._pointer.save(
            {
                "name": self._name,
                "version": version,
                "model_uri": f"models:/{self._name}/{version}",
                "source": data["model_uri"],
                "run_id": data.get("run_id"),
            }
        )

    def load(self) -> dict[str, Any]:
        pointer = self._pointer.load()
        if pointer["name"] != self._name:
            raise ConfigError(
                f"The pointer file names the registered model '{pointer['name']}', the catalog "
                f"'{self._name}': run the registry pipeline again."
            )
        if self._flavor == "keras":
            pointer["model"] = _load_keras(pointer["model_uri"])
        return pointer

    def _exists(self) -> bool:
        return self._pointer.exists()

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self._name, "pointer": self._pointer._describe()}


class RegistryUpdateDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """What the gate records in the registry: tags and `challenger` at once, `champion` staged.

    Save takes ``{"model_name", "version", "passed", "reasons", "tags"}``: it sets the version's
    tags and, when it passed, the ``challenger`` alias, and stages the promotion. ``commit()``
    (called once the whole run succeeded) moves ``champion`` (the old one becomes ``previous``)
    and records how on the active MLflow run as the tag `outcome_tag`; ``discard()`` (a failed
    run) drops it. Load returns the staged update.
    """

    def __init__(
        self, outcome_tag: str = "registry.outcome", metadata: dict[str, Any] | None = None
    ):
        self._outcome_tag = outcome_tag
        self._staged: dict[str, Any] | None = None
        self.metadata = metadata

    def save(self, data: dict[str, Any]) -> None:
        client, name, version = MlflowClient(), data["model_name"], data["version"]
        for key, value in data["tags"].items():
            client.set_model_version_tag(name, version, key, value)
        if data["passed"]:
            client.set_registered_model_alias(name, CHALLENGER, version)
        self._staged = dict(data)

    def load(self) -> dict[str, Any]:
        if self._staged is None:
            raise DatasetError(f"{self!s} has no update staged in this run.")
        return dict(self._staged)

    def commit(self) -> str | None:
        """Applies the staged update's promotion; returns what it did (None: nothing staged)."""
        if self._staged is None:
            return None
        client = MlflowClient()
        outcome = promote(client, self._staged)
        self._staged = None
        run = mlflow.active_run()
        if run is not None and self._outcome_tag:
            client.set_tag(run.info.run_id, self._outcome_tag, outcome)
        return outcome

    def discard(self) -> None:
        """Drops the staged promotion: the run failed, `champion` stays where it is."""
        self._staged = None

    def _exists(self) -> bool:
        return self._staged is not None

    def _describe(self) -> dict[str, Any]:
        return {"outcome_tag": self._outcome_tag}
