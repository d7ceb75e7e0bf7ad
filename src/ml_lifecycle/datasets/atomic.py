"""Outputs that are all-or-nothing: a killed run leaves either the old dataset or none, never half.

``AtomicSparkDataset`` writes a Spark dataset to a hidden sibling folder and renames it into place
once Spark has committed it; ``AtomicJSONDataset`` does the same for a JSON file. A reader (the
next node, the next run) therefore finds the previous complete dataset, no dataset, or the new
complete one -- and ``AtomicSparkDataset`` refuses, with a clear error, any folder that lacks
Spark's ``_SUCCESS`` marker (one left by a plain ``SparkDataset``, or copied half-way).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets._utils.spark_utils import get_spark
from kedro_datasets.json import JSONDataset
from kedro_datasets.spark import SparkDataset
from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

SUCCESS_MARKER = "_SUCCESS"
# Siblings of the target folder: `.<name>.tmp-<pid>-<hex>` while written, `.<name>.old-...` for
# the instant between moving the previous dataset aside and the new one in.
_TEMP_TAGS = (".tmp-", ".old-")
_LOCAL_PREFIXES = ("", "file://")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _is_stale(name: str, target: str) -> bool:
    """Whether `name` is a temporary sibling of `target` whose writer is no longer running."""
    for tag in _TEMP_TAGS:
        prefix = f".{target}{tag}"
        if name.startswith(prefix):
            pid = name[len(prefix) :].split("-", 1)[0]
            return not (pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)))
    return False


class _LocalFiles:
    """Folder operations on the local filesystem (os.rename is atomic within one filesystem)."""

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def delete(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.remove(path)

    def siblings(self, path: str) -> list[str]:
        parent = os.path.dirname(path)
        return os.listdir(parent) if os.path.isdir(parent) else []


class _HadoopFiles:
    """The same operations through the JVM's Hadoop FileSystem (hdfs://, s3a://, dbfs:/, ...).

    HDFS renames a folder atomically; object stores (s3a://, gs://) copy then delete, so there the
    swap is not atomic -- but a reader still never loads a partial folder: the final path holds
    either the complete previous dataset, nothing, or a folder that ``load`` refuses (no
    ``_SUCCESS``). Use versioned datasets for atomic publication on object stores.
    """

    def __init__(self, spark: Any, path: str):
        jvm = spark._jvm  # noqa: SLF001 - the Hadoop FileSystem has no Python API
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(path).getFileSystem(spark._jsc.hadoopConfiguration())  # noqa: SLF001

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def rename(self, src: str, dst: str) -> None:
        if not self._fs.rename(self._path(src), self._path(dst)):
            raise DatasetError(f"Could not rename '{src}' to '{dst}'.")

    def delete(self, path: str) -> None:
        self._fs.delete(self._path(path), True)

    def siblings(self, path: str) -> list[str]:
        parent = self._path(path).getParent()
        if not self._fs.exists(parent):
            return []
        return [status.getPath().getName() for status in self._fs.listStatus(parent)]


# SparkDataset's own load and save without Kedro's logging/versioning wrapper: this class's
# methods are wrapped already, and a second (versioned) wrapper would resolve a new save version.
_spark_load = getattr(SparkDataset.load, "__wrapped__", SparkDataset.load)
_spark_save = getattr(SparkDataset.save, "__wrapped__", SparkDataset.save)


class AtomicSparkDataset(SparkDataset):
    """A ``spark.SparkDataset`` whose save is all-or-nothing and whose load refuses partial data.

    Spark's ``mode: overwrite`` deletes the target folder before writing, so a run killed
    mid-write (``kill -9``, out of memory, a lost node) leaves a folder with some or none of the
    part files that a later ``load`` would read silently, short of rows. This dataset instead:

    - writes to ``.<name>.tmp-<pid>-<hex>`` beside the target, then moves the previous dataset
      aside and renames the new one into place (two renames; the previous one is deleted after);
    - removes temporary siblings left by a killed run (their writer's pid is gone) at the next save;
    - refuses to load a folder without Spark's ``_SUCCESS`` marker, and reports it as not
      existing, so Kedro (and ``kedro run --from-nodes``) treat it as missing.

    Local paths use ``os.rename``; other schemes (``hdfs://``, ``s3a://``) the Hadoop FileSystem of
    the running SparkSession. Spark Connect has no JVM in the client: there a non-local path is
    written in place by plain ``SparkDataset.save`` (a warning says so), and the ``_SUCCESS``
    check still guards every load. ``mode: append``, dynamic partition overwrite and
    ``file_format: delta`` are written in place as well (the first two change only part of the
    dataset, so they cannot be staged elsewhere; Delta commits atomically through its log).

    Example catalog entry::

        primary_table:
          type: ml_lifecycle.datasets.AtomicSparkDataset
          filepath: data/03_primary/table.parquet
          file_format: parquet
          save_args: {mode: overwrite}
    """

    def _target(self, path: PurePosixPath) -> str:
        return self._fs_prefix + str(path)

    def _files(self, target: str) -> _LocalFiles | _HadoopFiles | None:
        if self._fs_prefix in _LOCAL_PREFIXES and not target.startswith("dbfs:"):
            return _LocalFiles()
        spark = get_spark()
        if getattr(spark, "_jvm", None) is None:  # Spark Connect: no Hadoop FileSystem here
            return None
        return _HadoopFiles(spark, target)

    def _marker_exists(self, path: PurePosixPath) -> bool:
        return bool(self._exists_function(str(path / SUCCESS_MARKER)))

    def _complete(self, path: PurePosixPath) -> bool:
        """True for a complete dataset, False for none; raises DatasetError for a partial one."""
        if self._file_format == "delta" or self._marker_exists(path):
            return True
        if self._exists_function(str(path)):
            raise DatasetError(
                f"'{self._target(path)}' is incomplete (no {SUCCESS_MARKER} marker: its write was "
                "interrupted): rerun the node that produces it."
            )
        return False

    def load(self) -> DataFrame:
        self._complete(self._get_load_path())
        return _spark_load(self)

    def _exists(self) -> bool:
        if self._file_format == "delta":
            return super()._exists()
        try:
            return self._complete(self._get_load_path())
        except DatasetError as error:
            logger.warning("%s", error)
            return False

    def save(self, data: DataFrame) -> None:
        mode = str(self._save_args.get("mode") or "errorifexists").lower()
        final = self._target(self._get_save_path())
        in_place = mode == "append" or self._file_format == "delta" or self._dynamic_overwrite()
        files = None if in_place else self._files(final)
        if files is None:
            if not in_place:
                logger.warning(
                    "'%s' is written in place, not atomically: Spark Connect has no Hadoop "
                    "FileSystem in the client to rename with.",
                    final,
                )
            _spark_save(self, data)
            return

        self._remove_stale(files, final)
        if files.exists(final):
            if mode in ("error", "errorifexists"):
                raise DatasetError(f"'{final}' already exists (save_args mode: {mode}).")
            if mode == "ignore":
                return

        final = final.rstrip("/")
        name = final.rsplit("/", 1)[-1]
        stem = f"{final[: len(final) - len(name)]}.{name}"
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        temporary, previous = f"{stem}.tmp-{tag}", f"{stem}.old-{tag}"
        save_args = {**self._save_args, "mode": "overwrite"}
        try:
            data.write.save(temporary, self._file_format, **save_args)
            if not files.exists(f"{temporary}/{SUCCESS_MARKER}"):
                raise DatasetError(
                    f"Spark wrote '{temporary}' without a {SUCCESS_MARKER} marker "
                    "(mapreduce.fileoutputcommitter.marksuccessfuljobs is off?): not publishing it."
                )
            if files.exists(final):
                files.rename(final, previous)
            files.rename(temporary, final)
        except BaseException:
            files.delete(temporary)
            raise
        files.delete(previous)

    def _dynamic_overwrite(self) -> bool:
        """Dynamic partition overwrite replaces only the partitions written: not a whole swap."""
        if not self._save_args.get("partitionBy"):
            return False
        mode = self._save_args.get("partitionOverwriteMode") or get_spark().conf.get(
            "spark.sql.sources.partitionOverwriteMode", "static"
        )
        return str(mode).lower() == "dynamic"

    @staticmethod
    def _remove_stale(files: _LocalFiles | _HadoopFiles, final: str) -> None:
        """Deletes temporary siblings of `final` that a killed run left behind."""
        parent, _, name = final.rstrip("/").rpartition("/")
        for sibling in files.siblings(final):
            if _is_stale(sibling, name):
                logger.info("Removing '%s/%s', left by an interrupted write.", parent, sibling)
                files.delete(f"{parent}/{sibling}")


_json_save = getattr(JSONDataset.save, "__wrapped__", JSONDataset.save)


class AtomicJSONDataset(JSONDataset):
    """A ``json.JSONDataset`` that writes a local file to a temporary sibling, then renames it.

    A run killed mid-write leaves the previous file (or none), never truncated JSON. Other
    protocols (s3://, gs://, ...) publish an object only when its upload completes, so they are
    written as ``JSONDataset`` does.
    """

    def save(self, data: Any) -> None:
        if self._protocol != "file":
            _json_save(self, data)
            return
        target = get_filepath_str(self._get_save_path(), self._protocol)
        directory = os.path.dirname(target) or "."
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, **self._save_args)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        self._invalidate_cache()
