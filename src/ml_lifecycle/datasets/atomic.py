"""Outputs that are all-or-nothing: a killed run leaves either the old dataset or none, never half.

``AtomicSparkDataset`` writes a Spark dataset to a hidden sibling folder and renames it into place
once Spark has committed it; ``AtomicJSONDataset`` writes a JSON file through
:func:`ml_lifecycle.datasets._atomic_io.atomic_write` (a temporary sibling moved into place, or one
PUT on an object store). A reader (the next node, the next run) therefore finds the previous
complete dataset, no dataset, or the new complete one -- and ``AtomicSparkDataset`` refuses, with
a clear error, any folder that lacks Spark's ``_SUCCESS`` marker (one left by a plain
``SparkDataset``, or copied half-way).

Spark reads and writes through Hadoop filesystems, not fsspec: on a cluster the paths are
``s3a://``, ``gs://``, ``abfss://`` or ``hdfs://`` URLs, and the cluster needs the matching Hadoop
connector on its classpath (``hadoop-aws`` and its AWS SDK for ``s3a://``,
``spark.jars.packages`` in ``conf/<env>/spark.yml``) and the store's credentials in the Hadoop
configuration (``spark.hadoop.fs.s3a.*``). The dataset's ``credentials`` are only used by the
client-side existence checks (s3fs/gcsfs under Spark Connect, as ``spark.SparkDataset`` does).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import pyarrow.parquet as pq
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets.spark import SparkDataset
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from ._atomic_io import ArtifactMixin, FileLocation, atomic_write, materialize

logger = logging.getLogger(__name__)

SUCCESS_MARKER = "_SUCCESS"
# The footer key under which Spark stores a Parquet file's schema as it wrote it.
SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"
# Siblings of the target folder: `.<name>.tmp-<pid>-<hex>` while written, `.<name>.old-...` for
# the instant between moving the previous dataset aside and the new one in.
_TEMP_TAGS = (".tmp-", ".old-")
_LOCAL_PREFIXES = ("", "file://")
# Hadoop schemes whose fsspec implementation is registered under another name.
_FSSPEC_PROTOCOLS = {"s3a": "s3", "s3n": "s3", "abfss": "abfs", "wasb": "abfs", "wasbs": "abfs"}


def spark_session() -> SparkSession:
    """Returns the running SparkSession (Spark Connect's when ``SPARK_REMOTE`` names a server)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    remote = os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder
    return (builder.remote(remote) if remote else builder).getOrCreate()


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


class _FsspecFiles:
    """Existence checks through fsspec, where the client has no JVM (Spark Connect)."""

    def __init__(self, prefix: str, credentials: dict[str, Any]):
        scheme = prefix.removesuffix("://")
        self._fs = fsspec.filesystem(_FSSPEC_PROTOCOLS.get(scheme, scheme), **credentials)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(path))


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
    - loads a local, unpartitioned Parquet folder with the schema Spark stored in its footer
      (read here with pyarrow), sparing the Spark job that schema inference runs per load.

    Local paths use ``os.rename``; other schemes (``hdfs://``, ``s3a://``) the Hadoop FileSystem of
    the running SparkSession. HDFS renames a folder atomically; object stores (``s3a://``,
    ``gs://``) copy then delete, so there the swap itself is not atomic -- but a reader still never
    loads a partial folder (no ``_SUCCESS``: refused). Use versioned datasets for atomic
    publication on object stores. Spark Connect has no JVM in the client: there a non-local path
    is written in place (a warning says so), and the ``_SUCCESS`` check, made through fsspec with
    ``credentials``, still guards every load. ``mode: append``, dynamic partition overwrite and
    ``file_format: delta`` are written in place as well (the first two change only part of the
    dataset, so they cannot be staged elsewhere; Delta commits atomically through its log).

    Example catalog entry::

        primary_table:
          type: ml_lifecycle.datasets.AtomicSparkDataset
          filepath: data/03_primary/table.parquet
          file_format: parquet
          save_args: {mode: overwrite}
    """

    def __init__(  # noqa: PLR0913 - SparkDataset's own arguments
        self,
        *,
        filepath: str | os.PathLike,
        file_format: str = "parquet",
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=filepath,
            file_format=file_format,
            load_args=load_args,
            save_args=save_args,
            version=version,
            credentials=credentials,
            metadata=metadata,
        )
        # Kept here rather than read back from SparkDataset's private attributes.
        scheme, delimiter, _ = str(filepath).partition("://")
        self._prefix = f"{scheme}://" if delimiter else ""
        self._format = file_format
        self._write_args = dict(save_args or {})
        self._credentials = dict(credentials or {})

    def _target(self, path: PurePosixPath) -> str:
        return self._prefix + str(path)

    def _is_local(self, target: str) -> bool:
        return self._prefix in _LOCAL_PREFIXES and not target.startswith("dbfs:")

    def _files(self, target: str) -> _LocalFiles | _HadoopFiles | None:
        if self._is_local(target):
            return _LocalFiles()
        spark = spark_session()
        if getattr(spark, "_jvm", None) is None:  # Spark Connect: no Hadoop FileSystem here
            return None
        return _HadoopFiles(spark, target)

    def _marker_exists(self, target: str) -> bool:
        files = self._files(target) or _FsspecFiles(self._prefix, self._credentials)
        return files.exists(f"{target}/{SUCCESS_MARKER}")

    def _complete(self, path: PurePosixPath) -> bool:
        """True for a complete dataset, False for none; raises DatasetError for a partial one."""
        target = self._target(path)
        if self._format == "delta" or self._marker_exists(target):
            return True
        files = self._files(target) or _FsspecFiles(self._prefix, self._credentials)
        if files.exists(target):
            raise DatasetError(
                f"'{target}' is incomplete (no {SUCCESS_MARKER} marker: its write was "
                "interrupted): rerun the node that produces it."
            )
        return False

    def load(self) -> DataFrame:
        path = self._get_load_path()
        self._complete(path)
        target = self._target(path)
        schema = None if self._schema else self._written_schema(target)
        if schema is None:
            return super().load()
        # Spark's own schema inference would run a Spark job per load to read this same footer.
        return spark_session().read.schema(schema).load(target, self._format, **self._load_args)

    def _written_schema(self, target: str) -> StructType | None:
        """Returns the schema Spark stored in the footer of a local, unpartitioned Parquet folder
        it wrote; None otherwise (partition columns are left to Spark's discovery)."""
        if self._format != "parquet" or not self._is_local(target):
            return None
        try:
            entries = list(os.scandir(target.removeprefix("file://")))
            if any(e.is_dir() and not e.name.startswith(("_", ".")) for e in entries):
                return None
            parts = sorted(e.path for e in entries if e.is_file() and e.name.startswith("part-"))
            if not parts:
                return None
            text = (pq.read_metadata(parts[0]).metadata or {}).get(SPARK_SCHEMA_KEY)
            return None if text is None else StructType.fromJson(json.loads(text))
        except (OSError, ValueError, KeyError):  # unreadable: Spark's inference decides
            return None

    def _exists(self) -> bool:
        if self._format == "delta":
            return super()._exists()
        try:
            return self._complete(self._get_load_path())
        except DatasetError as error:
            logger.warning("%s", error)
            return False

    def saved_artifact(self) -> str | None:
        """Returns the URL of the saved (complete) dataset folder, or None when there is none."""
        try:
            path = self._get_load_path()
            return self._target(path) if self._complete(path) else None
        except DatasetError:
            return None

    def local_artifact(self) -> Path | None:
        """Returns a local path to the saved folder (a copy, through fsspec, when remote)."""
        target = self.saved_artifact()
        if target is None:
            return None
        if self._is_local(target):
            return Path(target.removeprefix("file://"))
        scheme = self._prefix.removesuffix("://")
        fs = fsspec.filesystem(_FSSPEC_PROTOCOLS.get(scheme, scheme), **self._credentials)
        return materialize(fs, target, self)

    def save(self, data: DataFrame) -> None:
        mode = str(self._write_args.get("mode") or "errorifexists").lower()
        final = self._target(self._get_save_path())
        in_place = mode == "append" or self._format == "delta" or self._dynamic_overwrite()
        files = None if in_place else self._files(final)
        if files is None:
            if not in_place:
                logger.warning(
                    "'%s' is written in place, not atomically: Spark Connect has no Hadoop "
                    "FileSystem in the client to rename with.",
                    final,
                )
            data.write.save(final.removeprefix("/dbfs"), self._format, **self._write_args)
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
        save_args = {**self._write_args, "mode": "overwrite"}
        try:
            data.write.save(temporary, self._format, **save_args)
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
        if not self._write_args.get("partitionBy"):
            return False
        mode = self._write_args.get("partitionOverwriteMode") or spark_session().conf.get(
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


class AtomicJSONDataset(ArtifactMixin, AbstractVersionedDataset[Any, Any]):
    """A JSON file on any fsspec filesystem, written all-or-nothing.

    Takes ``json.JSONDataset``'s arguments (``filepath`` with a protocol such as ``s3://``,
    ``save_args`` for ``json.dump``, ``version``, ``credentials``, ``fs_args`` with
    ``open_args_load``/``open_args_save``) and writes through ``atomic_write``: a run killed
    mid-write leaves the previous file (or none), never truncated JSON.

    Example catalog entry::

        feature_statistics:
          type: ml_lifecycle.datasets.AtomicJSONDataset
          filepath: s3://bucket/04_feature/feature_statistics.json
          credentials: s3_credentials
          save_args: {indent: 2}
    """

    DEFAULT_SAVE_ARGS: dict[str, Any] = {"indent": 2}

    def __init__(  # noqa: PLR0913 - json.JSONDataset's own arguments
        self,
        *,
        filepath: str,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._location = FileLocation(
            filepath,
            credentials=credentials,
            fs_args=fs_args,
            version=version,
            default_open_args_save={"mode": "w"},
        )
        super().__init__(
            filepath=self._location.path,
            version=version,
            exists_function=self._location.fs.exists,
            glob_function=self._location.fs.glob,
        )
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._location.url(),
            "protocol": self._location.protocol,
            "save_args": self._save_args,
            "version": self._version,
        }

    def load(self) -> Any:
        path = self._location.fspath(self._get_load_path())
        with self._location.fs.open(path, **self._location.open_args_load) as handle:
            return json.load(handle)

    def save(self, data: Any) -> None:
        path = self._location.fspath(self._get_save_path())
        open_args = dict(self._location.open_args_save)
        with atomic_write(self._location.fs, path, open_args.pop("mode"), **open_args) as handle:
            json.dump(data, handle, **self._save_args)

    def _exists(self) -> bool:
        try:
            path = self._location.fspath(self._get_load_path())
        except DatasetError:
            return False
        return bool(self._location.fs.exists(path))

    def _artifact_path(self) -> PurePosixPath:
        if not self._version:
            return self._filepath
        saved = self._get_versioned_path(self.resolve_save_version())
        if self._location.fs.exists(self._location.fspath(saved)):
            return saved
        return self._get_load_path()

    def _release(self) -> None:
        super()._release()
        self._location.fs.invalidate_cache(self._location.fspath())
