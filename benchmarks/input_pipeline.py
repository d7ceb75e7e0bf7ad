"""Benchmark: the same Keras model fed from Parquet-streamed tf.data vs from in-memory tensors.

Each feed trains the training model (same statistics, parameters, seed and batch size) for a few
epochs in its own process, so each process's peak RSS is its own. The feeds:
  - streamed:  the project's input (`make_dataset`: shuffled shards, a shuffle buffer, batches cut
               in NumPy, prefetch); the split never sits in memory whole;
  - in_memory: the whole split converted once to arrays and given to `fit`, which shuffles and
               gathers batches in memory (the reference: no I/O during training);
  - naive:     a pyarrow generator of record batches, then tf.data `unbatch().batch()` per row.
Throughput leaves out the first epoch (graph tracing, first reads). Usage, after `make run`:
    python benchmarks/input_pipeline.py [--data data] [--epochs 4] [--batch-size 1024]
Prints a table and writes benchmarks/results/input_pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import psutil
import pyarrow.dataset as pads
import tensorflow as tf
import yaml

from ml_lifecycle.model.inputs import (
    TF_DTYPES,
    count_rows,
    iterate_batches,
    label_dtype,
    make_dataset,
    training_inputs,
)
from ml_lifecycle.model.layers import build_model, compile_model
from ml_lifecycle.pipelines.training.nodes import EpochTimer

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure  # noqa: E402

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks/results/input_pipeline.json"
FEEDS = ("streamed", "in_memory", "naive")


def _feed(name: str, train, spec, task, batch_size, shuffle_buffer, seed, lookups):
    if name == "streamed":
        return make_dataset(
            train,
            spec,
            task,
            batch_size,
            shuffle_buffer=shuffle_buffer,
            seed=seed,
            lookups=lookups,
        )
    if name == "in_memory":
        # The split as arrays in memory; Keras' array adapter shuffles and gathers the batches.
        parts = list(iterate_batches(train, spec, task, 1 << 20, lookups=lookups))
        inputs = {k: np.concatenate([p[0][k] for p in parts]) for k in spec}
        return inputs, np.concatenate([p[1] for p in parts])

    # naive: whole record batches from a generator, re-cut row by row inside tf.data.
    def generator():
        for inputs, labels, _ in iterate_batches(train, spec, task, 65536, lookups=lookups):
            yield inputs, labels

    signature = (
        {k: tf.TensorSpec((None, 1), TF_DTYPES[t], name=k) for k, t in spec.items()},
        tf.TensorSpec((None,), TF_DTYPES[label_dtype(task)]),
    )
    data = tf.data.Dataset.from_generator(generator, output_signature=signature)
    return data.unbatch().shuffle(shuffle_buffer, seed=seed).batch(batch_size).prefetch(2)


def run_feed(args: argparse.Namespace) -> None:
    """Child process: trains with one feed and prints its figures as one JSON line."""
    data = Path(args.data)
    statistics = json.loads((data / "04_feature/feature_statistics.json").read_text())
    params = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())["training"]
    train = pads.dataset(
        str(data / "05_model_input/train.parquet"), format="parquet", ignore_prefixes=["_", "."]
    )
    keras.utils.set_random_seed(params["seed"])
    spec, lookups = training_inputs(statistics)
    rows = count_rows(train)
    steps = math.ceil(rows / args.batch_size)
    start = time.perf_counter()
    feed = _feed(
        args.feed,
        train,
        spec,
        statistics["task"],
        args.batch_size,
        params["shuffle_buffer"],
        params["seed"],
        lookups,
    )
    prepare = time.perf_counter() - start
    _, twin = build_model(statistics, params)
    optimizer = keras.optimizers.Adam(params["learning_rate"])
    # As training compiles it: an ensemble's members are stacked on the output's axis 1.
    compile_model(twin, statistics["task"], optimizer, members=params["ensemble"])
    timer = EpochTimer()
    if isinstance(feed, tf.data.Dataset):
        feed_args = {"x": feed.repeat(), "steps_per_epoch": steps}
    else:
        feed_args = {"x": feed[0], "y": feed[1], "batch_size": args.batch_size, "shuffle": True}
    twin.fit(**feed_args, epochs=args.epochs, callbacks=[timer], verbose=0)
    steady = timer.seconds[1:] or timer.seconds
    print(
        "RESULT "
        + json.dumps(
            {
                "rows": rows,
                "prepare_seconds": round(prepare, 2),
                "epoch_seconds": [round(s, 2) for s in timer.seconds],
                "examples_per_second": round(rows * len(steady) / sum(steady), 1),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data"), help="the run's data folder")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--feeds", default=",".join(FEEDS))
    parser.add_argument("--feed", help=argparse.SUPPRESS)  # the child process's one feed
    args = parser.parse_args()
    if args.feed:
        run_feed(args)
        return
    if not (Path(args.data) / "05_model_input/train.parquet/_SUCCESS").exists():
        sys.exit(f"No model input under {args.data}: run `make run` (or the features stage) first.")

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    results = {}
    for feed in args.feeds.split(","):
        cmd = [sys.executable, __file__, "--feed", feed, "--data", args.data]
        cmd += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        measured = measure(cmd, env=env, cwd=str(ROOT))
        line = [x for x in measured.output_tail.splitlines() if x.startswith("RESULT ")]
        if measured.returncode or not line:
            sys.exit(f"{feed} failed:\n{measured.output_tail}")
        results[feed] = {
            **json.loads(line[-1][len("RESULT ") :]),
            "peak_rss_mb": round(measured.peak_rss_mb),
            "wall_seconds": round(measured.seconds, 1),
        }
    reference = results.get("in_memory", {}).get("examples_per_second")
    for figures in results.values():
        if reference:
            figures["ratio_to_in_memory"] = round(figures["examples_per_second"] / reference, 3)

    print(f"\n{'feed':<10} {'examples/s':>11} {'ratio':>6} {'epoch s':>8} {'peak RSS MB':>12}")
    for feed, f in results.items():
        steady = f["epoch_seconds"][1:] or f["epoch_seconds"]
        print(
            f"{feed:<10} {f['examples_per_second']:>11,.0f} {f.get('ratio_to_in_memory', 0):>6.3f}"
            f" {sum(steady) / len(steady):>8.2f} {f['peak_rss_mb']:>12,}"
        )
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "feeds": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
