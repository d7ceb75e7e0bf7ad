"""The same pipelines on a Spark standalone cluster (conf/cluster) give the local run's results."""

from __future__ import annotations

import json
import time

import pytest

from tests.spark_servers import (
    SLICE,
    Standalone,
    finish,
    standalone_cluster,
    start_run,
    without_timestamps,
)

PIPELINES = "ingestion,cleaning,data_quality,features"

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Standalone:
    with standalone_cluster(tmp_path_factory.mktemp("spark-standalone")) as running:
        yield running


def test_the_cluster_run_equals_the_local_run(cluster, spark, lifecycle_snapshot, tmp_path):
    # The local run: the test env's lifecycle on the same slice (its outputs are only read).
    local_dir, cluster_dir = lifecycle_snapshot / "data", tmp_path / "cluster"
    remote = start_run(
        "cluster",
        PIPELINES,
        cluster_dir,
        {
            "spark_master": cluster.url,
            "raw_dir": str(SLICE),
            "flights_path": str(SLICE / "flights.csv.gz"),
            "data_quality_overrides.row_count.min_value": "3000",
            "data_quality_overrides.row_count.max_value": "4000",
        },
    )
    remote_log = finish(remote, cluster_dir)

    # The cluster did the work: the run's session was on the master, and the master ran it.
    assert f"SparkSession {spark.version} on {cluster.url}" in " ".join(remote_log.split())
    # The master lists an application once its driver has unregistered: poll briefly, since the
    # run's process can exit a moment before the master has moved the app to completedapps.
    deadline = time.monotonic() + 30
    while True:
        state = cluster.state()
        apps = state["completedapps"] + state["activeapps"]
        if apps or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(a["name"], a["cores"]) for a in apps] == [("ml-lifecycle-cluster", 1)]

    # Row accounting: every stage's books, per source and per reason, identical.
    reports = [
        json.loads((d / "08_reporting/row_accounting.json").read_text())
        for d in (local_dir, cluster_dir)
    ]
    local_report = {stage: reports[0][stage] for stage in reports[1]}  # the remote run's stages
    assert without_timestamps(local_report) == without_timestamps(reports[1])
    features = reports[1]["features"]
    assert (reports[1]["cleaning"]["kept"], features["kept"]) == (3274, 3274)

    # The model input: each split is the same multiset of rows (exceptAll keeps duplicates).
    for split in ("train", "validation", "test"):
        local_rows, cluster_rows = (
            spark.read.parquet(str(d / f"05_model_input/{split}.parquet"))
            for d in (local_dir, cluster_dir)
        )
        assert local_rows.schema == cluster_rows.schema
        assert local_rows.count() == cluster_rows.count() == features["kept_by_split"][split]
        assert local_rows.exceptAll(cluster_rows).count() == 0
        assert cluster_rows.exceptAll(local_rows).count() == 0

    # The statistics the model will be built from agree too.
    local_stats, cluster_stats = (
        json.loads((d / "04_feature/feature_statistics.json").read_text())
        for d in (local_dir, cluster_dir)
    )
    assert local_stats["rows_by_split"] == cluster_stats["rows_by_split"]
    assert local_stats["label"] == cluster_stats["label"]
    assert local_stats["numeric"].keys() == cluster_stats["numeric"].keys()
    for column, local_column in local_stats["numeric"].items():
        for key in ("mean", "variance", "count"):
            assert cluster_stats["numeric"][column][key] == pytest.approx(local_column[key]), column
