"""A JSON report file that several nodes write, each into its own top-level section."""

from __future__ import annotations

import json
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ._atomic_io import ArtifactMixin, FileLocation, atomic_write


class JSONSectionDataset(ArtifactMixin, AbstractDataset[dict, dict]):
    """Reads and writes one section (top-level key) of a shared JSON file.

    ``row_accounting.json`` holds one section per stage; running one stage alone replaces its own
    section and keeps the others. The file may live on any fsspec filesystem (``credentials`` and
    ``fs_args`` as for kedro-datasets' file datasets), and is written through ``atomic_write``, so
    a reader never sees a half-written report. Two processes saving different sections of one
    file at the same instant still race (the later write wins): stages of one run save in turn.

    Example catalog entry::

        row_accounting_ingestion:
          type: ml_lifecycle.datasets.JSONSectionDataset
          filepath: data/08_reporting/row_accounting.json
          section: ingestion
    """

    def __init__(  # noqa: PLR0913 - the file's location, its section and the usual extras
        self,
        filepath: str,
        section: str,
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
        self._section = section
        self.metadata = metadata

    def _read_all(self) -> dict[str, Any]:
        path = self._location.fspath()
        self._location.fs.invalidate_cache(path)
        if not self._location.fs.exists(path):
            return {}
        with self._location.fs.open(path, **self._location.open_args_load) as handle:
            return json.load(handle)

    def load(self) -> dict:
        everything = self._read_all()
        if self._section not in everything:
            raise DatasetError(
                f"'{self._location.url()}' has no section '{self._section}' yet: run the stage "
                "that writes it first."
            )
        return everything[self._section]

    def save(self, data: dict) -> None:
        everything = self._read_all()
        everything[self._section] = data
        open_args = dict(self._location.open_args_save)
        with atomic_write(
            self._location.fs, self._location.fspath(), open_args.pop("mode"), **open_args
        ) as handle:
            json.dump(everything, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")

    def _exists(self) -> bool:
        return self._section in self._read_all()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._location.url(),
            "protocol": self._location.protocol,
            "section": self._section,
        }
