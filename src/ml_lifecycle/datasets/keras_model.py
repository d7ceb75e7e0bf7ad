"""A Keras 3 model saved in the native `.keras` format and loaded with safe_mode on."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset


class KerasModelDataset(AbstractDataset[Any, Any]):
    """Saves and loads a Keras model as one `.keras` file.

    Loading keeps Keras' ``safe_mode`` (no arbitrary code from a file); the project's own layers
    are registered serializable by importing :mod:`ml_lifecycle.model.layers`. The file is written
    beside its target and renamed into place, so a reader never sees a half-written model.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        import keras  # noqa: PLC0415 - TensorFlow starts only when a model is needed

        import ml_lifecycle.model.layers  # noqa: F401, PLC0415 - registers the custom layers

        return keras.saving.load_model(self._filepath, safe_mode=True)

    def save(self, data: Any) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=self._filepath.parent)
        os.close(fd)
        try:
            data.save(tmp)
            os.replace(tmp, self._filepath)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
