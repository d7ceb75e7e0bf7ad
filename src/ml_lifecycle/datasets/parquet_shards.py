"""Model input: written by Spark as Parquet shards, read back as a lazy pyarrow dataset."""

from __future__ import annotations

from typing import Any

import pyarrow.dataset as pads
from kedro.io import AbstractDataset, DatasetError
from pyspark.sql import DataFrame

from ._atomic_io import ArtifactMixin, FileLocation, is_local
from .atomic import SUCCESS_MARKER, AtomicSparkDataset

# fsspec protocols and the Hadoop scheme Spark writes them with.
SPARK_SCHEMES = {
    "s3": "s3a",
    "s3a": "s3a",
    "gs": "gs",
    "gcs": "gs",
    "abfs": "abfss",
    "hdfs": "hdfs",
}


class ParquetShardsDataset(ArtifactMixin, AbstractDataset[DataFrame, pads.Dataset]):
    """Saves a Spark DataFrame as Parquet shards; loads a lazy ``pyarrow.dataset.Dataset``.

    Loading reads nothing but the footers, so a training node can stream the split in record
    batches into ``tf.data`` without the split ever being in memory at once. The shards may live
    on any fsspec filesystem (``s3://``, ``gs://``, ``memory://``, ...): pyarrow reads them
    through the dataset's fsspec filesystem (``credentials``, ``fs_args`` as for kedro-datasets),
    locally through its own native reader.

    Saving goes through :class:`AtomicSparkDataset` (written beside the target, renamed into place
    once Spark committed it), at the Hadoop URL of the same location (``s3://`` -> ``s3a://``,
    ``gcs://`` -> ``gs://``; the cluster needs the Hadoop connector, see ``atomic.py``).
    ``memory://`` has no Hadoop filesystem: there the shards come from elsewhere (a test).
    ``_SUCCESS`` is checked on load.

    Example catalog entry::

        model_input_train:
          type: ml_lifecycle.datasets.ParquetShardsDataset
          filepath: data/05_model_input/train.parquet
    """

    def __init__(
        self,
        filepath: str,
        *,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._location = FileLocation(filepath, credentials=credentials, fs_args=fs_args)
        self._credentials = dict(credentials or {})
        self.metadata = metadata

    def _complete(self) -> bool:
        marker = f"{self._location.fspath().rstrip('/')}/{SUCCESS_MARKER}"
        self._location.fs.invalidate_cache(self._location.fspath())
        return bool(self._location.fs.exists(marker))

    def load(self) -> pads.Dataset:
        if not self._complete():
            raise DatasetError(
                f"'{self._location.url()}' is missing or was not completely written: run the "
                "`features` pipeline first (kedro run --pipelines features)."
            )
        local = is_local(self._location.fs)
        return pads.dataset(
            self._location.fspath(),
            filesystem=None if local else self._location.fs,
            format="parquet",
            exclude_invalid_files=True,
            ignore_prefixes=["_", "."],
        )

    def save(self, data: DataFrame) -> None:
        self._spark_dataset().save(data)
        self._location.fs.invalidate_cache(self._location.fspath())

    def spark_url(self) -> str:
        """Returns the location as Spark (Hadoop) names it: a local path, or ``s3a://...``."""
        protocol = self._location.protocol
        if protocol == "file":
            return self._location.fspath()
        if protocol not in SPARK_SCHEMES:
            raise DatasetError(
                f"'{self._location.url()}': Spark has no Hadoop filesystem for '{protocol}://', "
                f"so it cannot write these shards (it writes {sorted(set(SPARK_SCHEMES))})."
            )
        return f"{SPARK_SCHEMES[protocol]}://{self._location.fspath()}"

    def _spark_dataset(self) -> AtomicSparkDataset:
        return AtomicSparkDataset(
            filepath=self.spark_url(),
            file_format="parquet",
            save_args={"mode": "overwrite"},
            credentials=self._credentials,
        )

    def _exists(self) -> bool:
        return self._complete()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._location.url(), "protocol": self._location.protocol}
