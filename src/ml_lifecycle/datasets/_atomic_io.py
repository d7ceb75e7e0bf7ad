"""Where a dataset's file lives (any fsspec filesystem), and the one way a file is written to it.

Every project dataset that writes a file goes through :func:`atomic_write`, so a reader (the next
node, the next run) finds the previous complete file, none, or the new complete one -- never a
truncated one:

- on a filesystem with renames (local disk, ``memory://``, SFTP, ...) the bytes go to a hidden
  temporary sibling (``.<name>.tmp-<pid>-<hex>``, same directory, so same filesystem) that is
  moved over the target with ``fs.mv`` once complete. Locally that is ``os.rename``, which
  replaces the target atomically (POSIX ``rename(2)``), after an ``fsync`` of the data;
- on an object store (``s3://``, ``gs://``, ``abfs://``, ...) the object is written in place: a
  PUT (or a multipart upload's completion) publishes the whole object or nothing, and a "rename"
  there would be a copy and a delete -- slower and no more atomic. The bytes are spooled to a
  local temporary file first and uploaded (``fs.put_file``) only once complete, so a write that
  fails half-way uploads nothing.

:class:`FileLocation` parses ``filepath``/``credentials``/``fs_args`` the way kedro-datasets' own
file datasets do (``get_protocol_and_path``, ``fsspec.filesystem(protocol, **credentials,
**fs_args)``, ``open_args_load``/``open_args_save``), and :class:`ArtifactMixin` gives a dataset
the public ``saved_artifact()``/``local_artifact()`` that the MLflow hook logs from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import IO, Any

import fsspec
from fsspec import AbstractFileSystem
from kedro.io.core import PROTOCOL_DELIMITER, Version, get_filepath_str, get_protocol_and_path

# Filesystems where an object becomes visible only once its upload has completed.
OBJECT_STORES = frozenset(
    {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "r2", "hf", "dbfs"}
)


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def is_local(fs: AbstractFileSystem) -> bool:
    """Whether `fs` is the local disk (``file://``)."""
    return "file" in _protocols(fs)


def publishes_on_close(fs: AbstractFileSystem) -> bool:
    """Whether `fs` is an object store, where a completed upload is already all-or-nothing."""
    return bool(OBJECT_STORES.intersection(_protocols(fs)))


def temporary_sibling(path: str) -> str:
    """Returns a hidden name beside `path` for a write in progress by this process."""
    parent, _, name = path.rstrip("/").rpartition("/")
    hidden = f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    return f"{parent}/{hidden}" if parent or path.startswith("/") else hidden


@contextmanager
def atomic_write(
    fs: AbstractFileSystem, path: str, mode: str = "wb", **open_args: Any
) -> Iterator[IO]:
    """Yields a handle whose content replaces `path` only when the block completes.

    If the block raises, the target keeps its previous content (or stays absent) and the
    temporary sibling is removed. See the module docstring for what makes each kind of
    filesystem all-or-nothing.
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_write writes whole files (mode 'w' or 'wb'), not {mode!r}.")
    if publishes_on_close(fs):
        # Spooled locally and uploaded only once the block completed: an upload handle closed
        # by an exception would still publish what it had.
        with tempfile.TemporaryDirectory(prefix="ml-lifecycle-upload-") as scratch:
            spool = os.path.join(scratch, path.rstrip("/").rpartition("/")[2] or "upload")
            text_keys = ("encoding", "errors", "newline")
            text = {k: open_args.pop(k) for k in text_keys if k in open_args}
            with open(spool, mode, **text) as handle:  # noqa: PTH123 - a plain local file
                yield handle
            fs.put_file(spool, path, **open_args)
        fs.invalidate_cache(path)
        return
    parent = path.rstrip("/").rpartition("/")[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        with fs.open(temporary, mode, **open_args) as handle:
            yield handle
            if is_local(fs):
                handle.flush()
                os.fsync(handle.fileno())
        fs.mv(temporary, path)
    except BaseException:
        if fs.exists(temporary):
            fs.rm(temporary)
        raise
    finally:
        fs.invalidate_cache(parent or None)


class FileLocation:
    """A file (or folder) on an fsspec filesystem, configured as kedro-datasets configure theirs.

    ``fs_args`` go to the filesystem's constructor, except ``open_args_load``/``open_args_save``
    which go to ``fs.open``; ``credentials`` go to the constructor too (``key``/``secret``/
    ``client_kwargs`` for s3fs, ``token`` for gcsfs, ...). A local directory is created on save.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        *,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        version: Version | None = None,
        default_open_args_save: dict[str, Any] | None = None,
    ):
        fs_args = deepcopy(fs_args) or {}
        self.open_args_load: dict[str, Any] = fs_args.pop("open_args_load", {})
        self.open_args_save: dict[str, Any] = {
            **(default_open_args_save or {}),
            **fs_args.pop("open_args_save", {}),
        }
        self.protocol, path = get_protocol_and_path(filepath, version)
        if self.protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self.fs: AbstractFileSystem = fsspec.filesystem(
            self.protocol, **(deepcopy(credentials) or {}), **fs_args
        )
        self.path = PurePosixPath(path)

    def fspath(self, path: PurePosixPath | None = None) -> str:
        """Returns `path` (default: the configured one) as the filesystem's calls take it."""
        return get_filepath_str(path or self.path, self.protocol)

    def url(self, path: PurePosixPath | None = None) -> str:
        """Returns `path` with its protocol (a local path stays a plain path), for messages."""
        text = (path or self.path).as_posix()
        if self.protocol == "file" or PROTOCOL_DELIMITER in text:
            return text
        return f"{self.protocol}{PROTOCOL_DELIMITER}{text}"


def materialize(fs: AbstractFileSystem, path: str, owner: object) -> Path:
    """Returns a local path holding `path` (as ``get_filepath_str`` gives it): itself on the
    local disk, else a copy.

    The copy (a file, or a folder fetched recursively) lives in a temporary directory removed
    when `owner` is garbage collected or the interpreter exits, so a caller may hand the path to
    a library that needs a local file (MLflow's ``log_artifact``, Keras' ``load_model``).
    """
    if is_local(fs):
        return Path(path)
    scratch = tempfile.mkdtemp(prefix="ml-lifecycle-artifact-")
    weakref.finalize(owner, shutil.rmtree, scratch, True)
    local = Path(scratch) / PurePosixPath(path.rstrip("/")).name
    if fs.isdir(path):
        fs.get(path.rstrip("/") + "/", str(local), recursive=True)
    else:
        fs.get_file(path, str(local))
    return local


class ArtifactMixin:
    """Public ``saved_artifact()``/``local_artifact()`` for a dataset with a `_location`.

    ``saved_artifact()`` is the URL of what the last save wrote (``None`` before there is one);
    ``local_artifact()`` a local path to it, copied from remote storage when it is not on this
    disk. The MLflow run hook logs ``local_artifact()``.
    """

    _location: FileLocation

    def _artifact_path(self) -> PurePosixPath:
        return self._location.path

    def saved_artifact(self) -> str | None:
        """Returns where the saved file (or folder) is, with its protocol; None if absent."""
        path = self._artifact_path()
        return (
            self._location.url(path)
            if self._location.fs.exists(self._location.fspath(path))
            else None
        )

    def local_artifact(self) -> Path | None:
        """Returns a local path to the saved file (or folder), or None when nothing is saved."""
        path = self._artifact_path()
        location = self._location.fspath(path)
        if not self._location.fs.exists(location):
            return None
        return materialize(self._location.fs, location, self)
