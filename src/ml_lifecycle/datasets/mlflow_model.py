"""The trained model logged to MLflow, and a local pointer to it for later runs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset


class MlflowModelDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """Logs a model package to the active MLflow run; loads where it went.

    Save takes ``{"model": keras.Model, "statistics": dict, "input_example": pandas.DataFrame}``
    and logs it with :func:`ml_lifecycle.model.serving.log_model` (the ``keras`` flavor, a raw-
    feature signature and the input example), then writes ``{"model_uri", "model_id", "run_id"}`` to
    `filepath`. Load returns that pointer, so ``kedro run --pipelines registry`` can register the
    model a previous run logged.
    """

    def __init__(self, filepath: str, name: str = "model", metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._name = name
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return json.loads(self._filepath.read_text())

    def save(self, data: dict[str, Any]) -> None:
        from ml_lifecycle.model.serving import log_model  # noqa: PLC0415 - TensorFlow starts on demand

        info = log_model(data["model"], data["statistics"], data["input_example"], self._name)
        pointer = {"model_uri": info.model_uri, "model_id": info.model_id, "run_id": info.run_id}
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".json", dir=self._filepath.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(pointer, f, indent=2)
        os.replace(tmp, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "name": self._name}
