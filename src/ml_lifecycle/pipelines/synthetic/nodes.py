"""Synthetic scale data: the real sample resampled in Spark, jittered, with injected faults.

Row `i` of the output is a copy of real row `(i * stride) mod n` (copy number `i div n`), so the
output is deterministic for a given seed and size, fewer rows than the sample spread over all of
it, and copies get distinct keys (`distinct_key`) so that only the injected duplicates are
duplicates. Everything is written as text, which is how the
malformed values reach the landing zone.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ml_lifecycle.core.params import parse
from ml_lifecycle.core.spark import col, require_columns
from ml_lifecycle.datasets.spark_sources import CORRUPT, SOURCE_FILE
from ml_lifecycle.pipelines.synthetic.params import ShiftNumber, ShiftValue, SyntheticParams

logger = logging.getLogger(__name__)

UNIT = float(1 << 31)


def _uniform(seed: int, salt: str) -> Column:
    """Returns a deterministic pseudo-uniform [0, 1) value per output row."""
    hashed = F.xxhash64(F.col("id"), F.lit(seed), F.lit(salt))
    return F.pmod(hashed, F.lit(1 << 31).cast("long")) / F.lit(UNIT)


def _normal(seed: int, salt: str) -> Column:
    """Returns a deterministic standard normal value per output row (Box-Muller)."""
    u1 = F.greatest(_uniform(seed, salt + "1"), F.lit(1e-12))
    u2 = _uniform(seed, salt + "2")
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * 3.141592653589793 * u2)


def _as_text(df: DataFrame) -> DataFrame:
    texts = []
    for field in df.schema.fields:
        if field.dataType.typeName() == "timestamp":
            texts.append(
                F.date_format(col(field.name), "yyyy-MM-dd'T'HH:mm:ss'Z'").alias(field.name)
            )
        else:
            texts.append(col(field.name).cast("string").alias(field.name))
    return df.select(*texts)


def _spread_stride(n: int) -> int:
    """Returns the integer nearest n * 0.618 that is coprime with n (1 for n <= 2)."""
    if n <= 2:
        return 1
    start = max(1, round(n * 0.6180339887))
    for offset in range(n):
        for candidate in (start + offset, start - offset):
            if 0 < candidate < n and math.gcd(candidate, n) == 1:
                return candidate
    return 1


def _shifted(name: str, spec: ShiftValue | ShiftNumber, dtype: str, seed: int) -> Column:
    """Returns column `name` shifted as `spec` says, for a drifted batch.

    ``{value: V, rate: r}``: a share r of the rows take the value V (a new category, or more of
    an existing one); ``{add: a, scale: s}``: numbers become ``x * s + a``.
    """
    if isinstance(spec, ShiftValue):
        hit = _uniform(seed, f"shift_{name}") < F.lit(spec.rate)
        return F.when(hit, F.lit(spec.value).cast(dtype)).otherwise(col(name))
    shifted = col(name) * F.lit(spec.scale) + F.lit(spec.add)
    if dtype in ("int", "bigint", "smallint"):
        shifted = F.round(shifted)
    return shifted.cast(dtype)


def synthesize_rows(seed_sources: dict[str, DataFrame], params: dict[str, Any]) -> DataFrame:
    """Returns `rows` rows like the source's, as text, with duplicates, bad values, outliers."""
    params = parse(SyntheticParams, params, "synthetic")
    # Cached whole, so every column is parsed and a malformed seed record is recognised as such.
    real = seed_sources[params.source].cache()
    real = real.filter(F.col(CORRUPT).isNull()).drop(CORRUPT, SOURCE_FILE)
    columns = real.columns
    jitter, faults, key = params.jitter, params.faults, params.distinct_key
    require_columns(columns, list(jitter) + [key.column] if key else list(jitter), "synthetic")
    rows, seed = params.rows, params.seed

    n_real = real.count()
    order = [col(c).asc_nulls_last() for c in columns]
    indexed = real.withColumn("_idx", F.row_number().over(Window.orderBy(*order)) - 1)
    spark = SparkSession.builder.getOrCreate()
    partitions = max(1, -(-rows // params.rows_per_file))
    # Consecutive ids step through the real rows by a stride near n / golden ratio, coprime with
    # n: any n consecutive ids visit every real row once, and a batch smaller than the sample is
    # spread over all of it (every period and category) instead of being its first rows.
    stride = _spread_stride(n_real)
    ids = spark.range(0, rows, numPartitions=partitions).withColumns(
        {
            "_idx": (F.col("id") * F.lit(stride)) % F.lit(n_real),
            "_copy": (F.col("id") / n_real).cast("long"),
        }
    )
    df = ids.join(F.broadcast(indexed), on="_idx", how="inner")

    changes: dict[str, Column] = {}
    for name, spec in jitter.items():
        noise = _normal(seed, name)
        if spec.sd is not None:
            changes[name] = F.round(col(name) + noise * F.lit(spec.sd))
        else:
            changes[name] = F.round(col(name) * (1.0 + noise * F.lit(spec.relative_sd)))
    if key:
        changes[key.column] = col(key.column) + F.col("_copy") * F.lit(key.stride)
    dtypes = dict(real.dtypes)
    df = df.withColumns({name: c.cast(dtypes[name]) for name, c in changes.items()})

    shift = params.shift
    require_columns(columns, list(shift), "synthetic.shift")
    if shift:
        df = df.withColumns(
            {name: _shifted(name, spec, dtypes[name], seed) for name, spec in shift.items()}
        )
        logger.info("synthetic: distributions shifted: %s", shift)

    outlier = faults.outliers
    if outlier:
        hit = _uniform(seed, "outlier") < F.lit(outlier.rate)
        factor = F.lit(outlier.factor)
        df = df.withColumns(
            {
                c: F.when(hit, col(c) * factor).otherwise(col(c)).cast(dtypes[c])
                for c in outlier.columns
            }
        )

    text = _as_text(df.select("id", *columns)).withColumn("id", F.col("id").cast("long"))
    malformed = faults.malformed
    if malformed:
        u = _uniform(seed, "malformed")
        rate = malformed.rate
        bad_number, extra_field = malformed.text_in_column, malformed.extra_field_in_column
        text = text.withColumns(
            {
                bad_number: F.when(u < rate / 2, F.lit("n/a")).otherwise(col(bad_number)),
                extra_field: F.when(
                    (u >= rate / 2) & (u < rate), F.concat(col(extra_field), F.lit(",1"))
                ).otherwise(col(extra_field)),
            }
        )
    duplicate_rate = faults.duplicate_rate
    if duplicate_rate:
        copies = text.filter(_uniform(seed, "duplicate") < F.lit(duplicate_rate))
        text = text.unionByName(copies).coalesce(partitions)
    logger.info(
        "synthetic: %s rows from %s real rows in %s files", f"{rows:,}", f"{n_real:,}", partitions
    )
    return text.drop("id")
