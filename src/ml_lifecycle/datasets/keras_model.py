"""A Keras 3 model saved in the native `.keras` format and loaded with safe_mode on."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from ._atomic_io import ArtifactMixin, FileLocation, atomic_write, is_local


class KerasModelDataset(ArtifactMixin, AbstractDataset[Any, Any]):
    """Saves and loads a Keras model as one `.keras` file, on any fsspec filesystem.

    Keras reads and writes local files only, so the model is saved to a local temporary
    ``.keras`` file whose bytes are then written through ``atomic_write`` (a reader never sees a
    half-written model), and a remote file is copied to a local temporary file to be loaded.
    Loading keeps Keras' ``safe_mode`` (no arbitrary code from a file); the project's own layers
    are registered serializable by importing :mod:`ml_lifecycle.model.layers`.

    Example catalog entry::

        model:
          type: ml_lifecycle.datasets.KerasModelDataset
          filepath: s3://bucket/06_models/model.keras
          credentials: s3_credentials
    """

    def __init__(
        self,
        filepath: str,
        *,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._location = FileLocation(
            filepath,
            credentials=credentials,
            fs_args=fs_args,
            default_open_args_save={"mode": "wb"},
        )
        self.metadata = metadata

    def load(self) -> Any:
        import keras  # noqa: PLC0415 - TensorFlow starts only when a model is needed

        import ml_lifecycle.model.layers  # noqa: F401, PLC0415 - registers the custom layers

        fs, path = self._location.fs, self._location.fspath()
        if is_local(fs):
            return keras.saving.load_model(path, safe_mode=True)
        with tempfile.TemporaryDirectory(prefix="ml-lifecycle-keras-") as scratch:
            local = Path(scratch) / "model.keras"
            fs.get_file(path, str(local))
            return keras.saving.load_model(str(local), safe_mode=True)

    def save(self, data: Any) -> None:
        open_args = dict(self._location.open_args_save)
        mode = open_args.pop("mode")
        with tempfile.TemporaryDirectory(prefix="ml-lifecycle-keras-") as scratch:
            local = Path(scratch) / "model.keras"
            data.save(str(local))
            with (
                local.open("rb") as source,
                atomic_write(self._location.fs, self._location.fspath(), mode, **open_args) as out,
            ):
                shutil.copyfileobj(source, out, length=1 << 20)

    def _exists(self) -> bool:
        return bool(self._location.fs.exists(self._location.fspath()))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._location.url(), "protocol": self._location.protocol}
