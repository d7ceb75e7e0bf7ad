"""Project-level guarantees: set-up checks, and no full-dataset collect in the pipelines."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

ROOT = Path(__file__).parents[1]


def test_java_check_says_how_to_install_java_when_it_is_missing(tmp_path):
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts/check_java.sh")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Java 17+ is required by Spark, and no 'java' was found" in result.stderr
    assert "apt-get install openjdk-17-jre-headless" in result.stderr


def test_java_check_refuses_an_old_java(tmp_path):
    fake = tmp_path / "java"
    fake.write_text("#!/bin/bash\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts/check_java.sh")],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "found '11.0.2'" in result.stderr


def test_no_pipeline_brings_rows_to_the_driver():
    # Only aggregates may reach the driver: collect() is allowed in accounting's group counts.
    allowed = {("accounting.py", "rows = df.groupBy(*columns).count().collect()")}
    found = set()
    for path in (ROOT / "src/ml_lifecycle").rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r"\.(toPandas|collect|toLocalIterator)\(", line):
                found.add((path.name, line.strip()))
    assert found == allowed


def test_every_stage_is_registered_and_the_default_runs_them_in_order():
    bootstrap_project(ROOT)
    assert {"ingestion", "cleaning", "synthetic", "__default__"} <= set(pipelines)
    default = [n.name for n in pipelines["__default__"].nodes]
    assert (
        default.index("ingest") < default.index("fit_cleaning_statistics") < default.index("clean")
    )
    assert "synthesize_flights" not in default
