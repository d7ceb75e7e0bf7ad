"""Project-level guarantees: set-up checks, and no full-dataset collect in the pipelines."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.pipeline_registry import register_pipelines

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


FORBIDDEN = {"toPandas", "toLocalIterator"}


def _chain(node: ast.AST, assigned: dict[str, ast.AST]) -> set[str]:
    """Method names called on the way to `node` (through local variables assigned once)."""
    names: set[str] = set()
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
            node = node.value
        elif isinstance(node, ast.Name) and node.id in assigned:
            node = assigned.pop(node.id)
        else:
            return names


def unbounded_driver_calls(source: str) -> list[str]:
    """Lines that bring rows to the driver without a `limit` in their chain or a reviewed
    `# bounded:` reason; toPandas/toLocalIterator are refused outright."""
    lines = source.splitlines()
    found = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.Module):
            continue
        assigned = {
            t.id: n.value
            for n in ast.walk(func)
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for call in ast.walk(func):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            method, line = call.func.attr, lines[call.func.end_lineno - 1]
            if method in FORBIDDEN:
                found.append(line.strip())
            elif method == "collect" and not call.args:
                bounded = "limit" in _chain(call.func.value, dict(assigned))
                if not (bounded or "# bounded:" in line):
                    found.append(line.strip())
    return sorted(set(found))


def test_the_driver_check_catches_an_unbounded_collect():
    source = (
        "def f(df):\n"
        "    rows = df.filter('x > 0')\n"
        "    a = df.limit(5).collect()\n"
        "    b = rows.collect()\n"
        "    c = df.groupBy('k').count().collect()  # bounded: one row per k\n"
        "    return df.toPandas()\n"
    )
    assert unbounded_driver_calls(source) == ["b = rows.collect()", "return df.toPandas()"]


def test_no_pipeline_brings_rows_to_the_driver():
    # Only aggregates may reach the driver: every collect() is limited or says why it is bounded.
    found = {
        (path.name, line)
        for path in (ROOT / "src/ml_lifecycle").rglob("*.py")
        for line in unbounded_driver_calls(path.read_text())
    }
    assert found == set()


def test_every_stage_is_registered_and_the_default_runs_them_in_order():
    bootstrap_project(ROOT)
    assert {"ingestion", "cleaning", "synthetic", "__default__"} <= set(pipelines)
    default = [n.name for n in pipelines["__default__"].nodes]
    assert (
        default.index("ingest") < default.index("fit_cleaning_statistics") < default.index("clean")
    )
    assert "synthesize_rows" not in default


def test_an_unknown_pipeline_name_is_answered_with_the_names_there_are():
    bootstrap_project(ROOT)
    pipelines.set_requested(["inferance"])  # what `kedro run --pipeline inferance` asks for
    try:
        with pytest.raises(ConfigError) as error:
            register_pipelines()
    finally:
        pipelines.set_requested(None)
    message = str(error.value)
    assert "no pipeline named 'inferance'" in message and "did you mean 'inference'" in message
    assert "ingestion" in message and "iterate" in message


# Words of the sample's schema that are also plain English or generic column names.
GENERIC = {"alt", "day", "distance", "dst", "engine", "engines", "hour", "lat", "lon", "minute"}
GENERIC |= {"model", "month", "name", "origin", "seats", "speed", "temp", "type", "tz", "year"}


def test_no_python_file_names_the_samples_sources_or_columns():
    # Declarative: every source and column of the bundled sample lives in conf/, so another
    # dataset is another env. A Python file naming one would be code only the sample can use.
    catalog = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())
    sources = catalog["raw_sources"]["sources"]
    names = set(sources) | {c for s in sources.values() for c in s["schema"]}
    distinctive = sorted(names - GENERIC)
    assert {"flights", "carrier", "arr_delay", "tailnum"} <= set(distinctive)
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, distinctive))})\b")
    found = {
        f"{path.relative_to(ROOT)}:{number}: {match.group(1)}"
        for path in sorted((ROOT / "src/ml_lifecycle").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in [pattern.search(line)]
        if match
    }
    assert found == set()
