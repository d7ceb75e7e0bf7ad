"""An easy synthetic learning problem pushed through the real features nodes into shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ml_lifecycle.datasets import ParquetShardsDataset
from ml_lifecycle.pipelines.features.nodes import (
    assign_split,
    fit_feature_statistics,
    make_model_input,
)

FEATURES = {
    "task": "binary",
    "label": "target",
    "class_names": ["no", "yes"],
    "forbidden": ["noise"],
    "numeric": {"x1": "zscore", "x2": "minmax", "x3": "log_zscore"},
    "numeric_bins": 8,  # bin embeddings too, so every training test covers them
    "categorical": {"cat": {"top_k": 10}, "hour": {"top_k": 30}},
    "passthrough": ["region"],
    "split": {
        "method": "random",
        "id_columns": ["id"],
        "seed": 7,
        "fractions": {"train": 0.7, "validation": 0.15, "test": 0.15},
    },
    "rows_per_shard": 1000,
}

TRAINING = {
    "seed": 3,
    "deterministic": True,
    "epochs": 4,
    "batch_size": 128,
    "shuffle_buffer": 1024,
    "hidden_units": [32, 16],
    "dropout": 0.1,
    "l2": 0.0,
    "batch_norm": False,
    "embedding": {"multiplier": 2.0, "min_dim": 2, "max_dim": 8},
    "numeric_embedding": {"kind": "periodic", "frequencies": 4, "sigma": 1.0, "dim": 4},
    "ensemble": 1,
    "learning_rate": 0.01,
    "schedule": {"name": "cosine", "alpha": 0.05},
    "early_stopping": {"monitor": "val_auc", "mode": "max", "patience": 10},
    "class_weight": None,
    "strategy": "default",
    "mixed_precision": "float32",
    "tensorboard_dir": None,
}


def easy_table(spark: SparkSession, rows: int = 6000) -> DataFrame:
    """Returns rows whose label follows from x1 and cat (learnable to AUC > 0.9)."""
    cats = F.array(*[F.lit(c) for c in "abcd"])
    df = spark.range(rows, numPartitions=2).select(
        F.col("id"),
        F.randn(1).alias("x1"),
        (F.rand(2) * 100).alias("x2"),
        (F.rand(6) * 1000).alias("x3"),
        F.element_at(cats, (F.floor(F.rand(3) * 4) + 1).cast("int")).alias("cat"),
        F.floor(F.rand(4) * 24).cast("int").alias("hour"),
        F.randn(5).alias("noise"),
        F.when(F.col("id") % 2 == 0, "east").otherwise("west").alias("region"),
    )
    signal = F.col("x1") + F.when(F.col("cat").isin("a", "b"), 1.5).otherwise(0.0) - 0.75
    return df.withColumn("target", (signal + 0.3 * F.col("noise") > 0).cast("int"))


def write_shards(
    spark: SparkSession, root: Path, params: dict[str, Any] = FEATURES, rows: int = 6000
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Runs the features nodes on the easy table; returns (statistics, {split: pyarrow dataset})."""
    table, _ = assign_split(easy_table(spark, rows), params)
    table = table.cache()
    statistics = fit_feature_statistics(table, params)
    splits = {}
    for name, frame in zip(
        ("train", "validation", "test"), make_model_input(table, statistics, params), strict=True
    ):
        dataset = ParquetShardsDataset(str(root / f"{name}.parquet"))
        dataset.save(frame)
        splits[name] = dataset.load()
    table.unpersist()
    return statistics, splits
