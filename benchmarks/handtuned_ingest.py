"""Reference: a minimal hand-tuned PySpark script doing ingestion + cleaning's core work.

Same reads (explicit schema), lookup de-duplication, broadcast joins, derived columns, flight
de-duplication, missing-target filter, imputation from one aggregation, and Parquet write -- but
no quarantine, no row accounting and no configuration layer. It reads the project's YAML only so
that both sides run with the same Spark settings, schemas, joins and rules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from pyspark import SparkConf
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

ROOT = Path(__file__).parents[1]


def main(flights_path: str, raw_dir: str, output: str) -> None:
    spark_conf = yaml.safe_load((ROOT / "conf/base/spark.yml").read_text())
    catalog = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())
    ingestion = yaml.safe_load((ROOT / "conf/base/parameters_ingestion.yml").read_text())[
        "ingestion"
    ]
    cleaning = yaml.safe_load((ROOT / "conf/base/parameters_cleaning.yml").read_text())["cleaning"]
    conf = SparkConf().setAll(
        [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in spark_conf.items()]
    )
    spark = SparkSession.builder.config(conf=conf).getOrCreate()

    sources = catalog["raw_sources"]["sources"]

    def read(name: str, path: str):
        ddl = ", ".join(f"`{c}` {t}" for c, t in sources[name]["schema"].items())
        return (
            spark.read.schema(ddl)
            .option("header", "true")
            .option("mode", "DROPMALFORMED")
            .csv(path)
        )

    df = read("flights", flights_path)
    for join in ingestion["joins"]:
        name = join["source"]
        columns = (
            join["columns"]
            if isinstance(join["columns"], dict)
            else {c: c for c in join["columns"]}
        )
        right = read(name, f"{raw_dir}/{name}.csv.gz").dropDuplicates(list(join["keys"].values()))
        right = right.select(
            *[F.col(r).alias(left) for left, r in join["keys"].items()],
            *[F.col(old).alias(new) for old, new in columns.items()],
        )
        df = df.join(F.broadcast(right), on=list(join["keys"]), how="left")
    df = df.withColumns({name: F.expr(sql) for name, sql in ingestion["derived"].items()})

    df = df.filter(F.col(cleaning["target"]["column"]).isNotNull())
    # Persisted once: both the statistics and the write read the de-duplicated rows.
    df = df.dropDuplicates(cleaning["dedupe"]["keys"]).persist()
    aggs = {}
    for name, spec in cleaning["impute"].items():
        strategy = spec if isinstance(spec, str) else spec["strategy"]
        if strategy == "mean":
            aggs[name] = F.avg(name)
        elif strategy == "median":
            aggs[name] = F.percentile_approx(name, 0.5, 10000)
        elif strategy == "mode":
            aggs[name] = F.mode(name)
    values = df.agg(*[e.alias(n) for n, e in aggs.items()]).first().asDict()
    for name, spec in cleaning["impute"].items():
        if not isinstance(spec, str) and spec["strategy"] == "constant":
            values[name] = spec["value"]
    df = df.fillna({k: v for k, v in values.items() if v is not None})
    df.write.mode("overwrite").parquet(output)
    spark.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--flights", required=True)
    parser.add_argument("--raw-dir", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    main(args.flights, args.raw_dir, args.output)
