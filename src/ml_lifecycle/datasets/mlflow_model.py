"""The trained model logged to MLflow, and a pointer to it (a small JSON file) for later runs."""

from __future__ import annotations

import json
from typing import Any

from kedro.io import AbstractDataset

from ._atomic_io import ArtifactMixin, FileLocation, atomic_write


class MlflowModelDataset(ArtifactMixin, AbstractDataset[dict[str, Any], dict[str, Any]]):
    """Logs a model package to the active MLflow run; loads where it went.

    Save takes ``{"model": keras.Model, "statistics": dict, "input_example": pandas.DataFrame}``
    and logs it with :func:`ml_lifecycle.model.serving.log_model` (the ``keras`` flavor, a raw-
    feature signature and the input example), then writes ``{"model_uri", "model_id", "run_id"}`` to
    `filepath` (any fsspec filesystem, written through ``atomic_write``). Load returns that pointer,
    so ``kedro run --pipelines registry`` can register the model a previous run logged.
    """

    def __init__(  # noqa: PLR0913 - the pointer's location, the model's name and the usual extras
        self,
        filepath: str,
        name: str = "model",
        *,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._location = FileLocation(
            filepath,
            credentials=credentials,
            fs_args=fs_args,
            default_open_args_save={"mode": "w", "encoding": "utf-8"},
        )
        self._name = name
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        path = self._location.fspath()
        with self._location.fs.open(path, **self._location.open_args_load) as handle:
            return json.load(handle)

    def save(self, data: dict[str, Any]) -> None:
        from ml_lifecycle.model.serving import log_model  # noqa: PLC0415 - TensorFlow starts on demand

        info = log_model(data["model"], data["statistics"], data["input_example"], self._name)
        pointer = {"model_uri": info.model_uri, "model_id": info.model_id, "run_id": info.run_id}
        open_args = dict(self._location.open_args_save)
        with atomic_write(
            self._location.fs, self._location.fspath(), open_args.pop("mode"), **open_args
        ) as handle:
            json.dump(pointer, handle, indent=2)

    def _exists(self) -> bool:
        return bool(self._location.fs.exists(self._location.fspath()))

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._location.url(),
            "protocol": self._location.protocol,
            "name": self._name,
        }
