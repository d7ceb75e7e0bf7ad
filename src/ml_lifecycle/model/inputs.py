"""tf.data input streamed from Parquet shards: record batches, never a whole split in memory.

Shards are read in a shuffled order each epoch; rows are shuffled inside a buffer of record
batches, converted from Arrow once per buffer and cut into full training batches in NumPy, so
tf.data receives ready batches (no per-row `unbatch`), and `prefetch` overlaps reading with
training.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import tensorflow as tf

from ml_lifecycle.core.columns import LABEL
from ml_lifecycle.model.layers import lookup_vocabulary

TF_DTYPES = {"float32": tf.float32, "int64": tf.int64, "string": tf.string}


def arrow_to_numpy(column: pa.ChunkedArray | pa.Array, dtype: str) -> np.ndarray:
    """Returns an Arrow column as an (n, 1) model input array: null → NaN, "" or -1."""
    if dtype == "float32":
        array = pc.cast(column, pa.float32()).to_numpy(zero_copy_only=False)
    elif dtype == "int64":
        array = pc.fill_null(pc.cast(column, pa.int64()), -1).to_numpy(zero_copy_only=False)
    else:
        array = pc.fill_null(pc.cast(column, pa.string()), "").to_numpy(zero_copy_only=False)
    return array.reshape(-1, 1)


def lookup_indices(column: pa.ChunkedArray | pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """Returns (n, 1) int64 indices as the model's lookup layers give them: 1 + position, 0 else."""
    values = pc.cast(column, vocabulary.type)
    index = pc.add(pc.index_in(values, value_set=vocabulary), 1)
    return pc.fill_null(pc.cast(index, pa.int64()), 0).to_numpy(zero_copy_only=False).reshape(-1, 1)


def training_inputs(statistics: dict[str, Any]) -> tuple[dict[str, str], dict[str, pa.Array]]:
    """Returns the training twin's input dtypes and the vocabularies the pipeline looks up."""
    lookups = {}
    for name, vocab in statistics["categorical"].items():
        values = lookup_vocabulary(vocab)
        kind = pa.string() if vocab["kind"] == "string" else pa.int64()
        lookups[name] = pa.array(values, type=kind)
    spec = {name: "float32" for name in statistics["numeric"]}
    spec.update({name: "int64" for name in lookups})
    return spec, lookups


def label_dtype(task: str) -> str:
    """Returns the NumPy dtype of the label for `task`."""
    return "float32" if task in ("binary", "regression") else "int64"


def _chunks(
    dataset: pads.Dataset,
    spec: dict[str, str],
    task: str,
    batch_size: int,
    *,
    shuffle_buffer: int,
    seed: int,
    epoch: int,
    extra_columns: tuple[str, ...],
    lookups: dict[str, pa.Array],
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]]:
    """Yields converted chunks of whole batches (the last chunk may end with a short one).

    A chunk is converted from Arrow once, so the per-batch cost is a NumPy slice.
    """
    columns = list(dict.fromkeys([*spec, LABEL, *extra_columns]))
    fragments = list(dataset.get_fragments())
    rng = np.random.default_rng([seed, epoch])
    if shuffle_buffer:
        fragments = [fragments[i] for i in rng.permutation(len(fragments))]
    target = max(shuffle_buffer, batch_size)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def convert(table: pa.Table) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
        inputs = {
            name: lookup_indices(table.column(name), lookups[name])
            if name in lookups
            else arrow_to_numpy(table.column(name), dtype)
            for name, dtype in spec.items()
        }
        extras = {n: table.column(n).to_numpy(zero_copy_only=False) for n in extra_columns}
        labels = table.column(LABEL).to_numpy(zero_copy_only=False).astype(label_dtype(task))
        return inputs, labels, extras

    def flush(final: bool) -> tuple[pa.Table, pa.Table]:
        table = pa.Table.from_batches(pending)
        if shuffle_buffer:
            table = table.take(pa.array(rng.permutation(table.num_rows)))
        whole = table.num_rows if final else table.num_rows - table.num_rows % batch_size
        return table.slice(0, whole), table.slice(whole)

    for fragment in fragments:
        for record_batch in fragment.to_batches(columns=columns, batch_size=target):
            pending.append(record_batch)
            pending_rows += record_batch.num_rows
            if pending_rows >= target:
                ready, rest = flush(final=False)
                if ready.num_rows:
                    yield convert(ready)
                pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        ready, _ = flush(final=True)
        yield convert(ready)


def iterate_batches(
    dataset: pads.Dataset,
    spec: dict[str, str],
    task: str,
    batch_size: int,
    *,
    shuffle_buffer: int = 0,
    seed: int = 0,
    epoch: int = 0,
    extra_columns: tuple[str, ...] = (),
    max_rows: int | None = None,
    lookups: dict[str, pa.Array] | None = None,
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]]:
    """Yields (inputs, labels, extras) batches of `batch_size` rows (the last may be smaller).

    With `shuffle_buffer` > 0 the shard order and the rows inside each buffer are shuffled,
    differently for each `epoch` but identically for the same (seed, epoch). Columns named in
    `lookups` arrive as vocabulary indices instead of raw values.
    """
    emitted = 0
    chunks = _chunks(
        dataset,
        spec,
        task,
        batch_size,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        epoch=epoch,
        extra_columns=extra_columns,
        lookups=lookups or {},
    )
    for inputs, labels, extras in chunks:
        for start in range(0, len(labels), batch_size):
            if max_rows is not None and emitted >= max_rows:
                return
            end = start + batch_size
            emitted += len(labels[start:end])
            yield (
                {k: v[start:end] for k, v in inputs.items()},
                labels[start:end],
                {k: v[start:end] for k, v in extras.items()},
            )


def _stacked(array: np.ndarray, batch_size: int) -> np.ndarray:
    """Returns a chunk of rows as (batches, batch_size, ...) when it holds whole batches only."""
    rows = len(array)
    if rows % batch_size:
        return array.reshape(1, *array.shape)  # the final, short batch
    return array.reshape(rows // batch_size, batch_size, *array.shape[1:])


def make_dataset(
    dataset: pads.Dataset,
    spec: dict[str, str],
    task: str,
    batch_size: int,
    *,
    shuffle_buffer: int = 0,
    seed: int = 0,
    lookups: dict[str, pa.Array] | None = None,
) -> tf.data.Dataset:
    """Returns a tf.data.Dataset of ready batches streamed from the shards, prefetched.

    The generator hands tf.data whole chunks stacked as (batches, batch_size, 1) — a few Python
    calls per shuffle buffer instead of one per batch — and `unbatch` splits them into batches
    inside tf.data. A chunk that ends with a short batch comes separately as (1, rows, 1).
    """
    epochs = iter(range(1_000_000))

    def generator():
        chunks = _chunks(
            dataset,
            spec,
            task,
            batch_size,
            shuffle_buffer=shuffle_buffer,
            seed=seed,
            epoch=next(epochs),
            extra_columns=(),
            lookups=lookups or {},
        )
        for inputs, labels, _ in chunks:
            whole = len(labels) - len(labels) % batch_size
            for part in (slice(0, whole), slice(whole, None)):
                if len(labels[part]):
                    yield (
                        {k: _stacked(v[part], batch_size) for k, v in inputs.items()},
                        _stacked(labels[part], batch_size),
                    )

    signature = (
        {
            name: tf.TensorSpec((None, None, 1), TF_DTYPES[dtype], name=name)
            for name, dtype in spec.items()
        },
        tf.TensorSpec((None, None), TF_DTYPES[label_dtype(task)]),
    )
    data = tf.data.Dataset.from_generator(generator, output_signature=signature).unbatch()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def count_rows(dataset: pads.Dataset) -> int:
    """Returns the number of rows from the Parquet footers (no data read)."""
    return int(dataset.count_rows())
