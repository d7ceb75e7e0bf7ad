"""Model input: written by Spark as Parquet shards, read back as a lazy pyarrow dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
from kedro.io import AbstractDataset, DatasetError
from pyspark.sql import DataFrame


class ParquetShardsDataset(AbstractDataset[DataFrame, pads.Dataset]):
    """Saves a Spark DataFrame as Parquet shards; loads a lazy ``pyarrow.dataset.Dataset``.

    Loading reads nothing but the footers, so a training node can stream the split in record
    batches into ``tf.data`` without the split ever being in memory at once. Spark's own commit
    protocol makes the write all-or-nothing (``_SUCCESS`` is checked on load).

    Example catalog entry::

        model_input_train:
          type: ml_lifecycle.datasets.ParquetShardsDataset
          filepath: data/05_model_input/train.parquet
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> pads.Dataset:
        if not (self._filepath / "_SUCCESS").exists():
            raise DatasetError(
                f"'{self._filepath}' is missing or was not completely written: run the "
                "`features` pipeline first (kedro run --pipelines features)."
            )
        return pads.dataset(
            str(self._filepath),
            format="parquet",
            exclude_invalid_files=True,
            ignore_prefixes=["_", "."],
        )

    def save(self, data: DataFrame) -> None:
        data.write.mode("overwrite").parquet(str(self._filepath))

    def _exists(self) -> bool:
        return (self._filepath / "_SUCCESS").exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
