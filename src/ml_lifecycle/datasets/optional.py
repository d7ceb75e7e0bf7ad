"""OptionalJSONDataset: a JSON file that may not exist yet (loads as None then)."""

from __future__ import annotations

from typing import Any

from .atomic import AtomicJSONDataset


class OptionalJSONDataset(AtomicJSONDataset):
    """An ``AtomicJSONDataset`` whose load returns None when the file does not exist.

    For a fallback input: the node that reads it decides whether a missing file is an error,
    and says so in its own words, instead of the run stopping on a FileNotFoundError first.
    """

    def load(self) -> Any:
        if not self._exists():
            return None
        return super().load()
