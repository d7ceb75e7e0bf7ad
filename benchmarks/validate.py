"""Benchmark: GX validation of the flights suite vs one plain Spark pass of the same aggregates.

All variants run in one process on the same Parquet table: the clean sample (data/03_primary,
written by `kedro run --pipelines ingestion,cleaning`, run here first if it is missing) replicated
to the requested size, each copy's `year` shifted so that the flight key stays unique. Usage:
    python benchmarks/validate.py --rows 1000000 [--rows 10000000] [--repeats 2] [--no-naive]
Prints a table per size and merges the figures into benchmarks/results/validate.json.

Variants (each starts with an empty Spark cache):
- plain: one `df.agg(...)` computing what the suite checks: the row count, for each row-level
  expectation the count of its offending rows (null counts, range, set and regex violations),
  the distinct count of the flight key, the mean of the target.
- plain, distinct apart: the same aggregates as two `df.agg`, the distinct count on its own. With
  one distinct aggregate beside others, Spark aggregates every other buffer per distinct key and
  shuffles them all, so this hand-written form is the faster one to beat.
- GX (this project): `data_quality.runner.validate` as the pipeline runs it (the suite's
  columns only, BASIC results, GX's persist off, `data_quality.cache` from conf/base), including
  example values of failed expectations and the Data Docs.
- GX naive: GX as it comes: the whole table, GX's own persist() of the batch, SUMMARY results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from pyspark import SparkConf  # noqa: E402
from pyspark.sql import Column, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from ml_lifecycle.core.spark import col  # noqa: E402
from ml_lifecycle.pipelines.data_quality.runner import JOB_GROUP, validate  # noqa: E402
from ml_lifecycle.pipelines.data_quality.suite import Suite, parse_suite, with_derived  # noqa: E402

ROOT = Path(__file__).parents[1]
WORK = ROOT / "benchmarks/work"
RESULTS = ROOT / "benchmarks/results/validate.json"
PRIMARY = ROOT / "data/03_primary/table.parquet"
PLAIN_GROUP = "plain"
# GX as it comes (see the module docstring).
NAIVE = {
    "cache": False,
    "result_format": "SUMMARY",
    "suite_columns_only": False,
    "gx_persist": True,
}


def _spark() -> SparkSession:
    settings = yaml.safe_load((ROOT / "conf/base/spark.yml").read_text())
    conf = SparkConf().setAll(
        [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in settings.items()]
    )
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _suite(rows: int) -> Suite:
    config = yaml.safe_load((ROOT / "conf/base/expectations/flights.yml").read_text())
    bounds = {"row_count": {"min_value": 1, "max_value": 10 * rows}}
    return parse_suite(config["expectation_suite"], bounds, where="flights")


def _cache_setting(option: str | None) -> bool:
    if option is not None:
        return option == "on"
    params = yaml.safe_load((ROOT / "conf/base/parameters_data_quality.yml").read_text())
    return bool(params["data_quality"]["cache"])


def _primary() -> None:
    if PRIMARY.exists():
        return
    print(f"{PRIMARY.relative_to(ROOT)} is missing: running ingestion and cleaning", flush=True)
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    cmd = [str(kedro), "run", "--pipelines", "ingestion,cleaning"]
    if subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode != 0:
        sys.exit("`kedro run --pipelines ingestion,cleaning` failed: see its output above.")


def _table(spark: SparkSession, rows: int) -> tuple[Path, int]:
    path = WORK / f"validate_{rows}.parquet"
    marker = WORK / f"validate_{rows}.rows"
    if marker.exists():
        return path, int(marker.read_text())
    _primary()
    primary = spark.read.parquet(str(PRIMARY))
    copies = max(1, round(rows / primary.count()))
    print(f"writing {copies} shifted copies of the clean sample -> {path}", flush=True)
    replicas = spark.range(copies).select(F.col("id").cast("int").alias("_copy"))
    table = primary.crossJoin(F.broadcast(replicas)).withColumn(
        "year", F.col("year") + F.col("_copy")
    )
    table.drop("_copy").write.mode("overwrite").parquet(str(path))
    actual = spark.read.parquet(str(path)).count()
    marker.write_text(str(actual))
    return path, actual


def _aggregates(suite: Suite) -> tuple[list[Column], list[Column]]:
    """The suite's aggregates written by hand: (counts and means, distinct counts)."""
    aggs, distinct = [F.count(F.lit(1))], []
    for exp in suite.expectations:
        if exp.row_level:
            aggs.append(F.sum(exp.unexpected().cast("long")))
        elif exp.type == "expect_column_proportion_of_unique_values_to_be_between":
            distinct.append(F.count_distinct(col(exp.kwargs["column"])))
        elif exp.type == "expect_column_mean_to_be_between":
            aggs.append(F.avg(col(exp.kwargs["column"])))
    return aggs, distinct


def _jobs(spark: SparkSession, group: str) -> set[int]:
    return set(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def _plain(spark: SparkSession, path: Path, suite: Suite, apart: bool) -> tuple[float, int]:
    spark.catalog.clearCache()
    before = _jobs(spark, PLAIN_GROUP)
    spark.sparkContext.setJobGroup(PLAIN_GROUP, "plain pass")
    start = time.perf_counter()
    df = with_derived(spark.read.parquet(str(path)), suite)
    aggs, distinct = _aggregates(suite)
    if apart:
        df.agg(*aggs).collect()  # bounded: one row
        df.agg(*distinct).collect()  # bounded: one row
    else:
        df.agg(*aggs, *distinct).collect()  # bounded: one row
    seconds = time.perf_counter() - start
    spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    return seconds, len(_jobs(spark, PLAIN_GROUP) - before)


def _gx(spark: SparkSession, path: Path, suite: Suite, options: dict) -> tuple[float, int, dict]:
    spark.catalog.clearCache()  # no run may read another's cache
    before = _jobs(spark, JOB_GROUP)
    start = time.perf_counter()
    summary, _ = validate(spark.read.parquet(str(path)), suite, **options)
    seconds = time.perf_counter() - start
    return seconds, len(_jobs(spark, JOB_GROUP) - before), summary


def run_size(spark: SparkSession, rows: int, repeats: int, naive: bool, cache: bool) -> dict:
    path, actual = _table(spark, rows)
    suite = _suite(actual)
    spark.read.parquet(str(path)).count()  # start the JVM's code paths, warm the file cache
    plain, apart, gx = [], [], []
    for _ in range(repeats):  # interleaved, so that a busy moment of the machine hits all three
        plain.append(_plain(spark, path, suite, apart=False))
        apart.append(_plain(spark, path, suite, apart=True))
        gx.append(_gx(spark, path, suite, {"cache": cache}))
    plain_s, plain_jobs = min(plain)
    apart_s, apart_jobs = min(apart)
    gx_s, gx_jobs, summary = min(gx, key=lambda r: r[0])
    result = {
        "rows": actual,
        "expectations": len(suite.expectations),
        "plain_pass_seconds": round(plain_s, 2),
        "plain_pass_jobs": plain_jobs,
        "plain_distinct_apart_seconds": round(apart_s, 2),
        "plain_distinct_apart_jobs": apart_jobs,
        "gx_validation_seconds": round(gx_s, 2),
        "gx_validation_jobs": gx_jobs,
        "gx_cache": cache,
        "ratio_gx_over_plain": round(gx_s / plain_s, 3),
        "ratio_gx_over_plain_distinct_apart": round(gx_s / apart_s, 3),
        "suite_success": summary["success"],
        "suite_failed": summary["failed"],
        "repeats": repeats,
    }
    if naive:
        naive_s, naive_jobs, _ = _gx(spark, path, suite, NAIVE)
        result.update(
            naive_gx_seconds=round(naive_s, 2),
            naive_gx_jobs=naive_jobs,
            ratio_naive_over_plain=round(naive_s / plain_s, 3),
        )
    return result


def print_table(r: dict) -> None:
    print(f"\n{r['rows']:,} rows, {r['expectations']} expectations (best of {r['repeats']})")
    print(f"| {'variant':<40} | {'wall s':>8} | {'Spark jobs':>10} | {'ratio':>6} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 12}|{'-' * 8}|")
    rows = [
        ("plain Spark pass (one df.agg)", "plain_pass"),
        ("plain, distinct count apart (two df.agg)", "plain_distinct_apart"),
        ("GX validation (this project)", "gx_validation"),
    ]
    if "naive_gx_seconds" in r:
        rows.append(("GX naive (as it comes)", "naive_gx"))
    for label, key in rows:
        seconds = r[f"{key}_seconds"]
        ratio = seconds / r["plain_pass_seconds"]  # of the rounded figures, as printed
        print(f"| {label:<40} | {seconds:>8.1f} | {r[f'{key}_jobs']:>10} | {ratio:>6.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--naive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time GX as it comes (default: on)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated tables")
    parser.add_argument("--cache", choices=["on", "off"], help="override data_quality.cache")
    args = parser.parse_args()
    cache = _cache_setting(args.cache)
    spark = _spark()
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    for rows in args.rows:
        result = run_size(spark, rows, args.repeats, args.naive, cache)
        print_table(result)
        existing["runs"][str(rows)] = {
            **result,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "spark": spark.version,
        }
        if not args.keep:
            shutil.rmtree(WORK / f"validate_{rows}.parquet", ignore_errors=True)
            (WORK / f"validate_{rows}.rows").unlink(missing_ok=True)
    spark.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
