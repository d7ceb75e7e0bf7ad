"""The same pipelines through Spark Connect (conf/connect) give the local run's results."""

from __future__ import annotations

import json

import pytest

from tests.spark_servers import (
    SLICE,
    connect_client_missing,
    connect_server,
    finish,
    start_run,
    without_timestamps,
)

PIPELINES = "ingestion,cleaning"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.cluster,
    pytest.mark.skipif(
        connect_client_missing() is not None,
        reason=f"Spark Connect client: {connect_client_missing()} (pyspark[connect])",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    with connect_server(tmp_path_factory.mktemp("spark-connect")) as url:
        yield url


def test_the_connect_run_equals_the_local_run(server, spark, lifecycle_snapshot, tmp_path):
    # The local run: the test env's lifecycle on the same slice (its outputs are only read).
    local_dir, connect_dir = lifecycle_snapshot / "data", tmp_path / "connect"
    remote = start_run(
        "connect",
        PIPELINES,
        connect_dir,
        {
            "spark_remote": server,
            "raw_dir": str(SLICE),
            "flights_path": str(SLICE / "flights.csv.gz"),
        },
    )
    remote_log = finish(remote, connect_dir)
    assert f"SparkSession {spark.version} on {server}" in " ".join(remote_log.split())

    reports = [
        json.loads((d / "08_reporting/row_accounting.json").read_text())
        for d in (local_dir, connect_dir)
    ]
    local_report = {stage: reports[0][stage] for stage in reports[1]}  # the remote run's stages
    assert without_timestamps(local_report) == without_timestamps(reports[1])
    assert reports[1]["cleaning"]["kept"] == 3274
    local_rows, connect_rows = (
        spark.read.parquet(str(d / "03_primary/table.parquet")) for d in (local_dir, connect_dir)
    )
    assert local_rows.count() == connect_rows.count() == 3274
    assert local_rows.exceptAll(connect_rows).count() == 0
    assert connect_rows.exceptAll(local_rows).count() == 0
