"""A JSON report file that several nodes write, each into its own top-level section."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class JSONSectionDataset(AbstractDataset[dict, dict]):
    """Reads and writes one section (top-level key) of a shared JSON file.

    ``row_accounting.json`` holds one section per stage; running one stage alone replaces its own
    section and keeps the others. Writes go to a temporary file that is renamed into place, so a
    reader never sees a half-written report.

    Example catalog entry::

        row_accounting_ingestion:
          type: ml_lifecycle.datasets.JSONSectionDataset
          filepath: data/08_reporting/row_accounting.json
          section: ingestion
    """

    def __init__(self, filepath: str, section: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._section = section
        self.metadata = metadata

    def _read_all(self) -> dict[str, Any]:
        if not self._filepath.exists():
            return {}
        with self._filepath.open(encoding="utf-8") as handle:
            return json.load(handle)

    def load(self) -> dict:
        everything = self._read_all()
        if self._section not in everything:
            raise DatasetError(
                f"'{self._filepath}' has no section '{self._section}' yet: run the stage that "
                "writes it first."
            )
        return everything[self._section]

    def save(self, data: dict) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        everything = self._read_all()
        everything[self._section] = data
        fd, tmp = tempfile.mkstemp(dir=self._filepath.parent, prefix=".", suffix=".json.tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(everything, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        os.replace(tmp, self._filepath)

    def _exists(self) -> bool:
        return self._section in self._read_all()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "section": self._section}
