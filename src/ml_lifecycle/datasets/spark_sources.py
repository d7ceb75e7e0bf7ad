"""Raw landing sources, each declared with a path, a format and an explicit schema."""

from __future__ import annotations

import csv
import logging
from functools import reduce
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ml_lifecycle.core.errors import SourceError

logger = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
SOURCE_FILE = "_source_file"
FORMATS = ("csv", "json", "parquet")
CSV_DEFAULTS = {"header": "true", "sep": ",", "quote": '"', "escape": '"', "encoding": "UTF-8"}
OTHER_DELIMITERS = (",", ";", "\t", "|")
HEADER_BYTES = 1 << 20


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _ddl(columns: dict[str, str]) -> str:
    return ", ".join(f"{_quote(name)} {dtype}" for name, dtype in columns.items())


class SparkSourcesDataset(AbstractDataset[None, dict[str, DataFrame]]):
    """Loads every declared raw source as a lazy Spark DataFrame, keyed by source name.

    Each source declares ``filepath`` (a file, a folder or a glob), ``format`` (csv, json or
    parquet), ``schema`` (column -> Spark SQL type; nothing is inferred) and optional reader
    ``options``. Every returned DataFrame has the declared columns in order, plus
    ``_corrupt_record`` (the raw text of a record that did not parse as declared, else null) and
    ``_source_file``, so a malformed record is kept for quarantine instead of being dropped.

    CSV headers are checked file by file before Spark reads anything: a missing declared column
    (or a wrong delimiter) is a ``SourceError`` naming the source, the file and the column; extra
    columns are read by name and ignored with a warning (``on_extra_columns: error`` refuses them).
    Empty and header-only files contribute no rows.

    Spark parses only the columns a query reads, so ``_corrupt_record`` flags a bad value only in
    a column that is read: a consumer that checks records must read all declared columns, as the
    ``ingest`` node does (it persists whole records before splitting them).

    Files are listed and CSV headers read through fsspec (``credentials`` and ``fs_args`` go to
    the filesystem's constructor, as for kedro-datasets); Spark reads the files through its
    Hadoop filesystems under the scheme each source declares (``s3a://bucket/raw/*.csv`` is
    listed with s3fs and read by Spark's ``s3a`` connector).
    """

    def __init__(
        self,
        sources: dict[str, dict[str, Any]],
        metadata: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
    ):
        if not sources:
            raise DatasetError("SparkSourcesDataset needs at least one source under 'sources'.")
        for name, spec in sources.items():
            missing = {"filepath", "format", "schema"} - set(spec)
            if missing:
                raise DatasetError(f"Source '{name}' must declare {sorted(missing)}.")
            if spec["format"] not in FORMATS:
                raise DatasetError(
                    f"Source '{name}': format '{spec['format']}' is not one of {list(FORMATS)}."
                )
            if spec.get("on_extra_columns", "warn") not in ("warn", "error"):
                raise DatasetError(f"Source '{name}': on_extra_columns must be 'warn' or 'error'.")
        self._sources = sources
        self.metadata = metadata
        self._fs_options = {**(credentials or {}), **(fs_args or {})}

    def load(self) -> dict[str, DataFrame]:
        spark = SparkSession.builder.getOrCreate()
        return {name: self._load_source(spark, name, spec) for name, spec in self._sources.items()}

    def save(self, data: dict[str, DataFrame]) -> None:
        raise DatasetError("Raw sources are read-only: the landing zone is written by upstream.")

    def _describe(self) -> dict[str, Any]:
        return {
            name: {"filepath": spec["filepath"], "format": spec["format"]}
            for name, spec in self._sources.items()
        }

    def _exists(self) -> bool:
        try:
            return all(self._list_files(name, spec) for name, spec in self._sources.items())
        except SourceError:
            return False

    # -- files -------------------------------------------------------------------------------

    def _list_files(self, name: str, spec: dict[str, Any]) -> list[str]:
        path = str(spec["filepath"])
        fs, fs_path = fsspec.core.url_to_fs(path, **self._fs_options)
        if fs.isdir(fs_path):
            found = [p for p in fs.find(fs_path) if not p.rsplit("/", 1)[-1].startswith(("_", "."))]
        elif any(ch in fs_path for ch in "*?["):
            found = fs.glob(fs_path)
        elif fs.exists(fs_path):
            found = [fs_path]
        else:
            found = []
        if not found:
            raise SourceError(
                f"Source '{name}': no files at '{path}'. Put the raw data there, or point "
                f"'raw_sources.sources.{name}.filepath' in conf/<env>/catalog.yml at it."
            )
        scheme, delimiter, _ = path.partition("://")
        if delimiter and scheme != "file":
            # The declared scheme, not fsspec's first name for it: Spark knows s3a://, not s3://.
            return sorted(f"{scheme}://{p}" for p in found)
        return sorted(fs.unstrip_protocol(p) for p in found)

    def _first_line(self, url: str) -> str | None:
        with fsspec.open(url, "rb", compression="infer", **self._fs_options) as handle:
            line = handle.readline(HEADER_BYTES)
        if not line.strip():
            return None
        return line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")

    # -- formats -----------------------------------------------------------------------------

    def _load_source(self, spark: SparkSession, name: str, spec: dict[str, Any]) -> DataFrame:
        schema: dict[str, str] = dict(spec["schema"])
        files = self._list_files(name, spec)
        loader = {"csv": self._load_csv, "json": self._load_json, "parquet": self._load_parquet}
        frames = loader[spec["format"]](spark, name, spec, schema, files)
        if not frames:
            logger.warning("Source '%s': every file under '%s' is empty.", name, spec["filepath"])
            empty = spark.createDataFrame([], _ddl({**schema, CORRUPT: "string"}))
            return empty.withColumn(SOURCE_FILE, F.lit(None).cast("string"))
        return reduce(lambda a, b: a.unionByName(b), frames)

    def _load_csv(
        self,
        spark: SparkSession,
        name: str,
        spec: dict[str, Any],
        schema: dict[str, str],
        files: list[str],
    ) -> list[DataFrame]:
        options = {**CSV_DEFAULTS, **{k: str(v) for k, v in spec.get("options", {}).items()}}
        header_on = options["header"].lower() == "true"
        groups: dict[tuple[str, ...], list[str]] = {}
        for url in files:
            if not header_on:
                groups.setdefault(tuple(schema), []).append(url)
                continue
            line = self._first_line(url)
            if line is None:
                logger.warning("Source '%s': file '%s' is empty; it adds no rows.", name, url)
                continue
            header = tuple(next(csv.reader([line], delimiter=options["sep"], quotechar='"')))
            self._check_header(name, spec, url, header, schema, options["sep"], line)
            groups.setdefault(header, []).append(url)

        frames = []
        for header, urls in groups.items():
            file_schema = {col: schema.get(col, "string") for col in header}
            file_schema[CORRUPT] = "string"
            reader = spark.read.format("csv").schema(_ddl(file_schema)).options(**options)
            frame = reader.options(
                mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT, enforceSchema="true"
            ).load(urls)
            frames.append(self._project(frame, schema))
        return frames

    @staticmethod
    def _check_header(
        name: str,
        spec: dict[str, Any],
        url: str,
        header: tuple[str, ...],
        schema: dict[str, str],
        sep: str,
        line: str,
    ) -> None:
        missing = [col for col in schema if col not in header]
        if missing:
            for other in OTHER_DELIMITERS:
                fields = line.split(other)
                declared = [f for f in fields if f.strip('"') in schema]
                if other != sep and len(header) == 1 and len(fields) > 1 and declared:
                    raise SourceError(
                        f"Source '{name}', file '{url}': the header is delimited by {other!r}, "
                        f"not {sep!r}. Set 'options: {{sep: {other!r}}}' for this source or fix "
                        "the file."
                    )
            raise SourceError(
                f"Source '{name}', file '{url}': column(s) {missing} declared in the schema are "
                f"missing from the header {list(header)}. Fix the file, or the schema of "
                f"'{name}' in conf/<env>/catalog.yml."
            )
        extra = [col for col in header if col not in schema]
        if extra:
            if spec.get("on_extra_columns", "warn") == "error":
                raise SourceError(
                    f"Source '{name}', file '{url}': undeclared column(s) {extra} in the header. "
                    "Declare them in the schema or set on_extra_columns: warn."
                )
            logger.warning(
                "Source '%s', file '%s': undeclared column(s) %s are ignored.", name, url, extra
            )

    def _load_json(
        self,
        spark: SparkSession,
        name: str,
        spec: dict[str, Any],
        schema: dict[str, str],
        files: list[str],
    ) -> list[DataFrame]:
        options = {k: str(v) for k, v in spec.get("options", {}).items()}
        frame = (
            spark.read.format("json")
            .schema(_ddl({**schema, CORRUPT: "string"}))
            .options(**options)
            .options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
            .load(files)
        )
        return [self._project(frame, schema)]

    def _load_parquet(
        self,
        spark: SparkSession,
        name: str,
        spec: dict[str, Any],
        schema: dict[str, str],
        files: list[str],
    ) -> list[DataFrame]:
        frame = spark.read.options(**spec.get("options", {})).parquet(*files)
        missing = [col for col in schema if col not in frame.columns]
        if missing:
            raise SourceError(
                f"Source '{name}', files under '{spec['filepath']}': column(s) {missing} declared "
                f"in the schema are missing from the Parquet schema {frame.columns}."
            )
        # Parquet is typed already; a value that does not cast to the declared type marks the
        # whole record as corrupt, like a malformed CSV line.
        casts = {
            col: F.expr(f"try_cast({_quote(col)} AS {dtype})") for col, dtype in schema.items()
        }
        failed = [F.col(col).isNotNull() & cast.isNull() for col, cast in casts.items()]
        record = F.to_json(F.struct(*[F.col(col) for col in schema]))
        frame = frame.select(
            *[cast.alias(col) for col, cast in casts.items()],
            F.when(reduce(Column.__or__, failed), record).alias(CORRUPT),
            F.col("_metadata.file_path").alias(SOURCE_FILE),
        )
        return [frame]

    @staticmethod
    def _project(frame: DataFrame, schema: dict[str, str]) -> DataFrame:
        return frame.select(
            *[F.col(_quote(col)) for col in schema],
            F.col(CORRUPT),
            F.col("_metadata.file_path").alias(SOURCE_FILE),
        )
