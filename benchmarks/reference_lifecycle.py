"""Reference: ingestion -> features as one hand-written PySpark script, for benchmarks/lifecycle.py.

The work of `kedro run --pipelines ingestion,cleaning,data_quality,features`, written the way a
Spark engineer would write it once, for this dataset, with nothing staged on disk: the same reads
(explicit schemas, malformed records kept aside), lookup de-duplication and broadcast joins, the
derived columns, the quarantine of rows that fail a rule, the cleaning statistics in one
aggregation, de-duplication, clipping and imputation, one aggregation computing the suite's
checks, the split, the train statistics (moments, bin edges, vocabularies, class counts) and the
model-input write. No intermediate tables, no row accounting, no reports, no drift profile.
It reads the project's YAML only so that both sides run with the same settings, schemas and rules.
"""

from __future__ import annotations

import argparse
from functools import reduce
from pathlib import Path

import yaml
from pyspark import SparkConf, StorageLevel
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

ROOT = Path(__file__).parents[1]
BAD = "_corrupt_record"


def _yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf/base" / name).read_text())


def _suite_checks(suite: dict) -> tuple[dict[str, Column], list[Column]]:
    """The suite as aggregates (its checks), and the predicates of its quarantining ones."""
    aggs, quarantine = {}, []
    for name, e in suite["expectations"].items():
        kind, column = e["type"], e.get("column")
        bad = None
        if kind == "expect_table_row_count_to_be_between":
            aggs[name] = F.count(F.lit(1))
        elif kind == "expect_column_values_to_not_be_null":
            columns = column if isinstance(column, list) else [column]
            bad = reduce(Column.__or__, [F.col(c).isNull() for c in columns])
        elif kind == "expect_column_values_to_be_between":
            low, high = e.get("min_value"), e.get("max_value")
            c = F.col(column)
            outside = F.lit(False)
            if low is not None:
                outside = outside | ((c <= low) if e.get("strict_min") else (c < low))
            if high is not None:
                outside = outside | (c > high)
            bad = F.coalesce(outside, F.lit(False))
        elif kind == "expect_column_values_to_be_in_set":
            bad = F.coalesce(~F.col(column).isin(e["value_set"]), F.lit(False))
        elif kind == "expect_column_values_to_match_regex":
            bad = F.coalesce(~F.col(column).rlike(e["regex"]), F.lit(False))
        elif kind == "expect_column_mean_to_be_between":
            aggs[name] = F.avg(column)
        elif kind == "expect_column_proportion_of_unique_values_to_be_between":
            aggs[name] = F.count_distinct(column) / F.count(column)
        if bad is not None:
            aggs[name] = F.count(F.when(bad, 1))
            if e.get("quarantine", False):
                quarantine.append(bad)
    return aggs, quarantine


def main(flights_path: str, raw_dir: str, output: str) -> None:  # noqa: PLR0915 - one script
    settings = _yaml("spark.yml")
    sources = _yaml("catalog.yml")["raw_sources"]["sources"]
    ingestion = _yaml("parameters_ingestion.yml")["ingestion"]
    cleaning = _yaml("parameters_cleaning.yml")["cleaning"]
    features = _yaml("parameters_features.yml")["features"]
    suite = _yaml("expectations/flights.yml")["expectation_suite"]
    conf = SparkConf().setAll(
        [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in settings.items()]
    )
    spark = SparkSession.builder.config(conf=conf).getOrCreate()

    def read(name: str, path: str, keep_bad: bool):
        ddl = ", ".join(f"`{c}` {t}" for c, t in sources[name]["schema"].items())
        reader = spark.read.option("header", "true")
        if keep_bad:
            reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", BAD)
            ddl += f", {BAD} string"
        else:
            reader = reader.option("mode", "DROPMALFORMED")
        return reader.schema(ddl).csv(path)

    # Ingestion: malformed flights are set aside; lookups de-duplicated and broadcast.
    df = read("flights", flights_path, keep_bad=True)
    for join in ingestion["joins"]:
        name = join["source"]
        columns = join["columns"]
        columns = columns if isinstance(columns, dict) else {c: c for c in columns}
        keys = list(join["keys"].values())
        right = read(name, f"{raw_dir}/{name}.csv.gz", keep_bad=False)
        right = right.dropna(subset=keys).dropDuplicates(keys)
        right = right.select(
            *[F.col(r).alias(left) for left, r in join["keys"].items()],
            *[F.col(old).alias(new) for old, new in columns.items()],
        )
        df = df.join(F.broadcast(right), on=list(join["keys"]), how="left")
    df = df.withColumns({name: F.expr(sql) for name, sql in ingestion["derived"].items()})

    # Cleaning's rules that need no statistics: one reason per rejected row.
    target = cleaning["target"]["column"]
    checks = [(F.col(BAD).isNotNull(), "malformed_record"), (F.col(target).isNull(), "target")]
    checks += [(F.col(c).isNull(), f"required:{c}") for c in cleaning["required"]]
    for name, sql in cleaning["rules"].items():
        checks.append((~F.coalesce(F.expr(sql), F.lit(True)), f"rule:{name}"))
    reason = F.coalesce(*[F.when(c, F.lit(r)) for c, r in checks])
    df = df.withColumn("_reason", reason).persist(StorageLevel.MEMORY_AND_DISK)
    good = df.filter(F.col("_reason").isNull())

    # The cleaning statistics, in one aggregation over the rows that passed.
    aggs = {}
    accuracy = cleaning["quantile_accuracy"]
    for name, spec in cleaning["impute"].items():
        strategy = spec if isinstance(spec, str) else spec["strategy"]
        if strategy == "mean":
            aggs[f"impute:{name}"] = F.avg(name)
        elif strategy == "median":
            aggs[f"impute:{name}"] = F.percentile_approx(name, 0.5, accuracy)
        elif strategy == "mode":
            aggs[f"impute:{name}"] = F.mode(name)
    for name, spec in cleaning["outliers"].items():
        if spec["method"] == "iqr":
            aggs[f"q:{name}"] = F.percentile_approx(name, [0.25, 0.75], accuracy)
        else:
            aggs[f"mean:{name}"], aggs[f"std:{name}"] = F.avg(name), F.stddev_samp(name)
    stats = good.agg(*[e.alias(n) for n, e in aggs.items()]).first().asDict()

    outside, clips = [], {}
    for name, spec in cleaning["outliers"].items():
        if spec["method"] == "iqr":
            q1, q3 = stats[f"q:{name}"]
            low, high = q1 - spec["k"] * (q3 - q1), q3 + spec["k"] * (q3 - q1)
        else:
            mean, std, z = stats[f"mean:{name}"], stats[f"std:{name}"], spec["threshold"]
            low, high = mean - z * std, mean + z * std
        if spec["action"] == "drop":
            outside.append(F.coalesce((F.col(name) < low) | (F.col(name) > high), F.lit(False)))
        else:
            clips[name] = F.least(F.greatest(F.col(name), F.lit(low)), F.lit(high))
    fills = {}
    for name, spec in cleaning["impute"].items():
        constant = isinstance(spec, dict) and "value" in spec
        fills[name] = spec["value"] if constant else stats[f"impute:{name}"]
    drop = reduce(Column.__or__, outside, F.lit(False))
    clean = good.filter(~drop).dropDuplicates(cleaning["dedupe"]["keys"]).withColumns(clips)
    clean = clean.fillna({k: v for k, v in fills.items() if v is not None}).drop(BAD, "_reason")

    # The suite's checks in one aggregation; its quarantining expectations filter the rows.
    clean = clean.withColumns({n: F.expr(sql) for n, sql in suite.get("derived", {}).items()})
    checks, quarantining = _suite_checks(suite)
    clean = clean.persist(StorageLevel.MEMORY_AND_DISK)
    clean.agg(*[e.alias(n) for n, e in checks.items()]).first()
    validated = clean.filter(~reduce(Column.__or__, quarantining, F.lit(False)))

    # Features: label, time split, the train statistics in one aggregation and one grouped count.
    split = features["split"]
    time = F.col(split["time_column"])
    cut_validation = F.lit(split["cutoffs"]["validation"]).cast("timestamp")
    cut_test = F.lit(split["cutoffs"]["test"]).cast("timestamp")
    labelled = validated.withColumn("label", F.expr(features["label"]).cast("int")).withColumn(
        "split", F.when(time < cut_validation, "train").when(time < cut_test, "validation")
        .otherwise("test"),
    )  # fmt: skip
    numeric, categorical = features["numeric"], features["categorical"]
    kept = [*split["id_columns"], *features["passthrough"], *numeric, *categorical]
    labelled = labelled.select(*dict.fromkeys(kept), "label", "split")
    is_train = F.col("split") == "train"
    bins = features["numeric_bins"]
    edges = [i / bins for i in range(1, bins)]
    train_stats = []
    for name in numeric:
        value = F.when(is_train, F.col(name).cast("double"))
        train_stats += [F.avg(value), F.var_pop(value), F.min(value), F.max(value)]
        train_stats.append(F.percentile_approx(value, edges, 10_000))
    splits = ("train", "validation", "test")
    train_stats += [F.count(F.when(F.col("split") == s, 1)) for s in splits]
    sizes = labelled.agg(*train_stats).first()[-3:]
    pairs = [
        F.struct(F.lit(c).alias("c"), F.col(c).cast("string").alias("v"))
        for c in [*categorical, "label"]
    ]
    (
        labelled.filter(is_train)
        .select(F.explode(F.array(*pairs)).alias("p"))
        .groupBy("p.c", "p.v")
        .count()
        .collect()
    )

    # The model input: one folder per split, rows spread over shards in a stable order.
    order = F.xxhash64(F.lit(split["seed"]), *[F.col(c) for c in split["id_columns"]])
    for name, rows in zip(splits, sizes, strict=True):
        part = labelled.filter(F.col("split") == name).drop("split").withColumn("_o", order)
        shards = max(1, -(-rows // features["rows_per_shard"]))
        part = part.repartition(shards, "_o").sortWithinPartitions("_o").drop("_o")
        part.write.mode("overwrite").parquet(f"{output}/model_input/{name}")
    rejected = df.filter(F.col("_reason").isNotNull())
    rejected = rejected.select("_reason", F.coalesce(F.col(BAD), F.to_json(F.struct("*"))))
    rejected.write.mode("overwrite").parquet(f"{output}/quarantine")
    spark.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--flights", required=True)
    parser.add_argument("--raw-dir", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    main(args.flights, args.raw_dir, args.output)
