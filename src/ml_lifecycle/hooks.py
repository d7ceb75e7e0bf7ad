"""Project hooks: the one SparkSession of a run, configured from conf/<env>/spark.yml."""

from __future__ import annotations

import logging
import os

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node
from pyspark import SparkConf
from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def _spark_conf(settings: dict) -> dict[str, str]:
    conf = {}
    for key, value in settings.items():
        conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return conf


class SparkHooks:
    """Creates the SparkSession before any dataset or node needs it."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Builds the session from the `spark` config (`spark.remote` selects Spark Connect)."""
        settings = _spark_conf(context.config_loader["spark"])
        remote = settings.pop("spark.remote", None)
        # Bind the local driver to loopback, whatever the host name resolves to.
        os.environ.setdefault(
            "SPARK_LOCAL_IP", settings.get("spark.driver.bindAddress", "127.0.0.1")
        )
        builder = SparkSession.builder
        if remote:
            builder = builder.remote(remote)
            for key, value in settings.items():
                builder = builder.config(key, value)
        else:
            builder = builder.config(conf=SparkConf().setAll(list(settings.items())))
        spark = builder.getOrCreate()
        if not remote:
            spark.sparkContext.setLogLevel(settings.get("spark.log.level", "WARN"))
        logger.info(
            "SparkSession %s on %s (shuffle partitions %s)",
            spark.version,
            remote or settings.get("spark.master", "local[*]"),
            spark.conf.get("spark.sql.shuffle.partitions"),
        )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: object, node: Node) -> None:
        """Frees what a node cached once its last output is written: nodes pass data via files."""
        spark = SparkSession.getActiveSession()
        if spark is not None and node.outputs and dataset_name == node.outputs[-1]:
            spark.catalog.clearCache()
