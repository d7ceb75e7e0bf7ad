"""An Optuna study store as a Kedro dataset: one sqlite file, resumed by every later run.

Loading gives a `StudyStore` over an RDB storage with heartbeats: a trial left RUNNING by a killed
run misses its heartbeat, is marked FAIL when the next run's trials start, and
`RetryHeartbeatStaleTrialCallback` (formerly RetryFailedTrialCallback) enqueues it again with the
same parameters. The store opens a study by name (`create_study(..., load_if_exists=True)`), so a
second run continues the first's trials.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
from kedro.io import AbstractDataset, DatasetError


class StudyStore:
    """The storage of the studies in one sqlite file; `open` creates or resumes one."""

    def __init__(self, storage: optuna.storages.BaseStorage, path: Path):
        self.storage = storage
        self.path = path

    def open(
        self,
        study_name: str,
        direction: str,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> optuna.Study:
        """Returns the study `study_name`, created when the file has none of that name yet."""
        study = optuna.create_study(
            storage=self.storage,
            study_name=study_name,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        if study.direction.name.lower() != direction.lower():
            raise DatasetError(
                f"The study '{study_name}' in '{self.path}' optimizes "
                f"{study.direction.name.lower()}, not {direction}: give tune.study_name a new "
                "name or delete the file."
            )
        return study


class OptunaStudyDataset(AbstractDataset[None, StudyStore]):
    """Loads a `StudyStore` on the sqlite file `filepath` (created with its folder if absent).

    Example catalog entry::

        tune_study:
          type: ml_lifecycle.datasets.OptunaStudyDataset
          filepath: data/06_models/tune/study.db
          heartbeat_interval: 60  # seconds between a running trial's heartbeats
          grace_period: 180       # a RUNNING trial silent this long is failed (then retried)
          max_retry: 2            # retries of one failed trial
    """

    def __init__(  # noqa: PLR0913 - the file and its storage's liveness settings
        self,
        filepath: str,
        heartbeat_interval: int = 60,
        grace_period: int | None = None,
        max_retry: int | None = 2,
        metadata: dict[str, Any] | None = None,
    ):
        self._path = Path(filepath)
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self._max_retry = max_retry
        self.metadata = metadata

    def load(self) -> StudyStore:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url=f"sqlite:///{self._path.resolve()}",
                heartbeat_interval=self._heartbeat_interval,
                grace_period=self._grace_period,
                # Optuna 5's name for RetryFailedTrialCallback (a deprecated alias now).
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=self._max_retry
                ),
            )
        return StudyStore(storage, self._path)

    def save(self, data: None) -> None:
        raise DatasetError("OptunaStudyDataset is read-only: trials are written by the study.")

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "heartbeat_interval": self._heartbeat_interval}
