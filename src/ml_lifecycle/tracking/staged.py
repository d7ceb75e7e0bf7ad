"""Datasets whose save takes effect only once the whole run succeeded, and the hook that says so.

A dataset that implements :class:`StagedDataset` (``commit()`` and ``discard()``) stages its
effect on save, e.g. :class:`ml_lifecycle.datasets.RegistryUpdateDataset` and the `champion`
alias. :class:`CommitStaged` commits every such dataset the run saved, in save order, after the
last node succeeded, and discards them when a node failed. It knows no dataset by name or type:
the catalog declares which outputs are staged.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


@runtime_checkable
class StagedDataset(Protocol):
    """A dataset whose save is staged until ``commit()``; ``discard()`` drops it."""

    def commit(self) -> Any:
        """Applies what the run's save staged; returns a description of it (or None)."""

    def discard(self) -> None:
        """Drops what the run's save staged."""


class CommitStaged:
    """Commits the staged datasets a run saved once it succeeded; discards them if it failed."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._saved: dict[str, StagedDataset] = {}

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        """Keeps the catalog, to find the dataset behind each saved name."""
        self._catalog = catalog
        self._saved = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Starts the run with nothing staged."""
        self._saved = {}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Remembers a saved dataset that stages its effect."""
        if self._catalog is None:
            return
        try:
            dataset = self._catalog.get(dataset_name)
        except Exception:  # noqa: BLE001 - a name without a dataset stages nothing
            return
        if isinstance(dataset, StagedDataset):
            self._saved[dataset_name] = dataset

    # tryfirst: before kedro-mlflow ends the run, so a commit can still tag it.
    @hook_impl(tryfirst=True)
    def after_pipeline_run(self) -> None:
        """Commits every staged dataset of the run: each of its nodes succeeded."""
        saved, self._saved = self._saved, {}
        for name, dataset in saved.items():
            outcome = dataset.commit()
            logger.info("Committed %s%s", name, f": {outcome}" if outcome else "")

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        """Discards every staged dataset of the run: a node failed."""
        saved, self._saved = self._saved, {}
        for name, dataset in saved.items():
            dataset.discard()
            logger.info("Discarded %s: the run failed", name)
