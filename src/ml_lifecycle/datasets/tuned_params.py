"""The tuned training keys as a parameters file: conf/<env>/parameters_training_tuned.yml.

Saving writes ``{training_tuned: <mapping>}`` as YAML (atomically, with a header saying where it
came from), so the next `kedro run` in that env reads it through Kedro's config loader and the
training node applies it over `training`. Loading returns the mapping ({} without a file).
"""

from __future__ import annotations

from typing import Any

import yaml
from kedro.io import AbstractDataset

from ._atomic_io import ArtifactMixin, FileLocation, atomic_write

HEADER = (
    "# Written by `kedro run --pipelines tune`: the best trial's training keys, applied over\n"
    "# `training` by the training node. Delete this file (or set training_tuned: {}) to train\n"
    "# with conf/base's values again.\n"
)


class TunedParamsDataset(ArtifactMixin, AbstractDataset[dict, dict]):
    """Saves a mapping under the top-level `key` of a YAML parameters file."""

    def __init__(
        self,
        filepath: str,
        key: str = "training_tuned",
        metadata: dict[str, Any] | None = None,
    ):
        self._location = FileLocation(
            filepath, default_open_args_save={"mode": "w", "encoding": "utf-8"}
        )
        self._key = key
        self.metadata = metadata

    def save(self, data: dict[str, Any]) -> None:
        text = HEADER + yaml.safe_dump({self._key: dict(data)}, sort_keys=True)
        with atomic_write(
            self._location.fs, self._location.fspath(), **self._location.open_args_save
        ) as handle:
            handle.write(text)

    def load(self) -> dict[str, Any]:
        path = self._location.fspath()
        if not self._location.fs.exists(path):
            return {}
        with self._location.fs.open(path, mode="r", encoding="utf-8") as handle:
            return (yaml.safe_load(handle) or {}).get(self._key) or {}

    def _exists(self) -> bool:
        return self._location.fs.exists(self._location.fspath())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._location.url(), "key": self._key}
