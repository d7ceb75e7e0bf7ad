"""The non-Spark artifacts on object storage: fsspec's memory:// and a local S3 endpoint (moto).

JSON reports (AtomicJSONDataset, OptionalJSONDataset, JSONSectionDataset), the Keras model and
the Parquet shards read back through the project's tf.data reader, each saved and loaded at a
remote URL exactly as on the local disk; the MLflow hook gets a local copy to log.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kedro.io import DatasetError

from ml_lifecycle.core.columns import LABEL
from ml_lifecycle.datasets import (
    AtomicJSONDataset,
    JSONSectionDataset,
    KerasModelDataset,
    OptionalJSONDataset,
    ParquetShardsDataset,
)
from ml_lifecycle.hooks import _local_path

BUCKET = "ml-lifecycle-test"


@dataclass
class Store:
    """A root URL on one filesystem, the credentials to reach it and the fsspec filesystem."""

    root: str
    credentials: dict[str, Any] = field(default_factory=dict)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem(self.root.split("://", 1)[0], **self.credentials)

    def url(self, name: str) -> str:
        return f"{self.root}/{name}"

    def path(self, name: str) -> str:
        """The path as the filesystem's own calls take it (no protocol)."""
        return self.url(name).split("://", 1)[1]

    def listing(self, name: str) -> list[str]:
        self.fs.invalidate_cache()
        return sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(self.path(name), detail=False))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(request) -> str:
    """A moto S3 server on 127.0.0.1 (a free port), stopped when the module's tests are done."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only this fixture needs it

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    request.addfinalizer(server.stop)
    return f"http://127.0.0.1:{port}"


@pytest.fixture(params=["memory", "s3"])
def store(request) -> Iterator[Store]:
    """A fresh folder on memory:// or on the local S3 endpoint."""
    folder = uuid.uuid4().hex[:12]
    if request.param == "memory":
        # Kedro (like kedro-datasets) reads memory://<host>/... as a host: the root is memory:///.
        store = Store(f"memory:///{folder}")
        yield store
        store.fs.rm(f"/{folder}", recursive=True)
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    credentials = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-west-1"},
    }
    store = Store(f"s3://{BUCKET}/{folder}", credentials)
    if not store.fs.exists(BUCKET):
        store.fs.mkdir(BUCKET)
    yield store


# ------------------------------------------------------------------------------ JSON reports


def test_atomic_json_round_trips_and_leaves_only_the_file(store):
    url = store.url("reports/statistics.json")
    report = AtomicJSONDataset(filepath=url, credentials=store.credentials)
    assert not report.exists()

    report.save({"rows": 3, "columns": ["a", "b"]})

    assert AtomicJSONDataset(filepath=url, credentials=store.credentials).load() == {
        "rows": 3,
        "columns": ["a", "b"],
    }
    assert report.exists()
    assert store.listing("reports") == ["statistics.json"]
    assert report._describe()["filepath"] == url
    assert report.saved_artifact() == url


def test_a_failed_json_write_keeps_the_previous_report(store):
    url = store.url("statistics.json")
    report = AtomicJSONDataset(filepath=url, credentials=store.credentials)
    report.save({"rows": 3})

    with pytest.raises(DatasetError):
        report.save({"rows": object()})  # not serialisable: fails half-way through json.dump

    assert json.loads(store.fs.cat_file(store.path("statistics.json"))) == {"rows": 3}
    assert store.listing("") == ["statistics.json"]


def test_optional_json_is_none_until_saved(store):
    url = store.url("cleaning_statistics.json")
    optional = OptionalJSONDataset(filepath=url, credentials=store.credentials)
    assert optional.load() is None
    optional.save({"median": {"delay": 4.0}})
    assert optional.load() == {"median": {"delay": 4.0}}


def test_json_sections_keep_each_other(store):
    url = store.url("row_accounting.json")

    def section(name: str) -> JSONSectionDataset:
        return JSONSectionDataset(url, name, credentials=store.credentials)

    with pytest.raises(DatasetError, match="has no section 'ingestion' yet"):
        section("ingestion").load()
    section("ingestion").save({"in": 10, "kept": 9, "quarantined": 1})
    section("cleaning").save({"in": 9, "kept": 8, "quarantined": 1})
    section("ingestion").save({"in": 11, "kept": 10, "quarantined": 1})

    assert section("ingestion").load() == {"in": 11, "kept": 10, "quarantined": 1}
    assert section("cleaning").load() == {"in": 9, "kept": 8, "quarantined": 1}
    assert not section("features").exists() and section("cleaning").exists()
    assert store.listing("") == ["row_accounting.json"]


def test_the_mlflow_hook_gets_a_local_copy_of_a_remote_report(store):
    url = store.url("reports/drift.json")
    report = AtomicJSONDataset(filepath=url, credentials=store.credentials)
    assert _local_path(report) is None  # nothing saved yet

    report.save({"over_count": 2})
    local = _local_path(report)

    assert local is not None and local.is_file() and local.name == "drift.json"
    assert json.loads(local.read_text()) == {"over_count": 2}


# ------------------------------------------------------------------------------ Keras model


def test_keras_model_round_trips(store):
    import keras  # noqa: PLC0415 - TensorFlow starts only for this test

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    rows = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], dtype="float32")

    url = store.url("06_models/model.keras")
    dataset = KerasModelDataset(url, credentials=store.credentials)
    assert not dataset.exists()
    dataset.save(model)

    assert dataset.exists()
    assert store.listing("06_models") == ["model.keras"]
    loaded = KerasModelDataset(url, credentials=store.credentials).load()
    np.testing.assert_allclose(loaded.predict(rows, verbose=0), model.predict(rows, verbose=0))
    assert dataset._describe() == {"filepath": url, "protocol": store.root.split(":", 1)[0]}


# ------------------------------------------------------------------------------ Parquet shards


def _write_shards(store: Store, name: str, parts: list[pa.Table], success: bool = True) -> None:
    """Writes the folder Spark would: part files, hidden checksums and the _SUCCESS marker."""
    fs, folder = store.fs, store.path(name)
    for index, table in enumerate(parts):
        with fs.open(f"{folder}/part-{index:05d}.snappy.parquet", "wb") as handle:
            pq.write_table(table, handle)
        fs.pipe_file(f"{folder}/.part-{index:05d}.snappy.parquet.crc", b"not parquet")
    if success:
        fs.pipe_file(f"{folder}/_SUCCESS", b"")


def _split(start: int, rows: int) -> pa.Table:
    ids = np.arange(start, start + rows)
    return pa.table(
        {
            "delay": pa.array(ids * 0.5, pa.float64()),
            "carrier": pa.array(ids % 3, pa.int64()),
            LABEL: pa.array(ids % 2, pa.int32()),
        }
    )


def test_parquet_shards_stream_through_the_tf_data_reader(store):
    from ml_lifecycle.model import inputs  # noqa: PLC0415 - imports TensorFlow

    _write_shards(store, "05_model_input/train.parquet", [_split(0, 7), _split(7, 6)])
    shards = ParquetShardsDataset(
        store.url("05_model_input/train.parquet"), credentials=store.credentials
    )
    assert shards.exists()

    dataset = shards.load()
    spec = {"delay": "float32", "carrier": "int64"}

    assert inputs.count_rows(dataset) == 13
    assert len(list(dataset.get_fragments())) == 2  # the .crc and _SUCCESS files are ignored
    batches = list(inputs.iterate_batches(dataset, spec, "binary", batch_size=4))
    assert [len(labels) for _, labels, _ in batches] == [4, 4, 4, 1]
    delays = np.concatenate([batch["delay"] for batch, _, _ in batches]).ravel()
    np.testing.assert_array_equal(np.sort(delays), np.arange(13) * 0.5)
    labels = np.concatenate([labels for _, labels, _ in batches])
    assert labels.dtype == np.float32 and labels.sum() == 6

    streamed = inputs.make_dataset(dataset, spec, "binary", batch_size=4, shuffle_buffer=8, seed=1)
    rows = [(float(x["delay"][i, 0]), int(y[i])) for x, y in streamed for i in range(len(y))]
    assert sorted(rows) == [(i * 0.5, i % 2) for i in range(13)]


def test_parquet_shards_without_success_marker_are_refused(store):
    _write_shards(store, "test.parquet", [_split(0, 3)], success=False)
    shards = ParquetShardsDataset(store.url("test.parquet"), credentials=store.credentials)
    assert not shards.exists()
    with pytest.raises(DatasetError, match="missing or was not completely written"):
        shards.load()


def test_parquet_shards_are_written_by_spark_at_the_hadoop_url():
    assert ParquetShardsDataset("s3://bucket/train.parquet").spark_url() == (
        "s3a://bucket/train.parquet"
    )
    assert ParquetShardsDataset("data/train.parquet").spark_url() == "data/train.parquet"
    with pytest.raises(DatasetError, match="Spark has no Hadoop filesystem for 'memory://'"):
        ParquetShardsDataset("memory:///train.parquet").spark_url()
