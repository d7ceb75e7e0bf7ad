"""kedro-viz: every registered pipeline drawn in a real headless Chromium, the static build, and
the catalog's layers in an order kedro-viz can draw.

The browser check is scripts/check_viz.py (`make check-viz`); it and the build test skip where
kedro-viz or Chromium is missing. The layer tests need neither.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.framework.project import pipelines

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_viz.py"

_spec = importlib.util.spec_from_file_location("check_viz", SCRIPT)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}


def needs_kedro_viz() -> None:
    if importlib.util.find_spec("kedro_viz") is None:
        pytest.skip("kedro-viz is not installed in this environment (pip install kedro-viz)")


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    return check.expectations()


def test_every_pipeline_draws_its_layers_in_one_order(expected):
    """kedro-viz draws no layer bands for a pipeline whose layers form a cycle."""
    cycles = {name: e["layer_cycle"] for name, e in expected.items() if e["layer_cycle"]}
    assert not cycles


def test_a_report_read_upstream_of_the_primary_layer_is_a_cycle(expected):
    """The check can fail: the data-quality summary back in `reporting`, where it was before the
    gate read it to split the primary table, makes primary -> reporting -> primary."""
    layers = {**expected["data_quality"]["layers"], "data_quality_summary": "reporting"}
    cycle = check.layer_cycle(pipelines["data_quality"], layers)
    assert cycle is not None and {"primary", "reporting"} <= set(cycle)


def test_every_catalog_dataset_has_a_layer(expected):
    """Only the datasets that pass in memory between nodes (no catalog entry) have no layer."""
    for name, pipeline in expected.items():
        unlayered = set(pipeline["data"]) - set(pipeline["layers"]) - set(pipeline["memory"])
        assert not unlayered, f"{name}: no metadata: kedro-viz: layer: for {sorted(unlayered)}"


def test_a_flowchart_lacking_a_node_fails_the_comparison():
    expected = {"task": ["ingest", "clean"], "data": ["raw_sources"]}
    drawn = [
        {"type": "task", "name": "ingest", "y": 0},
        {"type": "data", "name": "raw_sources", "y": 0},
        {"type": "data", "name": "stray", "y": 0},
    ]
    problems = check.compare_nodes("p", expected, drawn)
    assert problems == ["p: no task node ['clean']", "p: unexpected data node ['stray']"]


def test_a_dataset_outside_its_layer_band_fails_the_comparison():
    expected = {"layers": {"a": "raw", "b": "primary"}}
    drawn = [{"type": "data", "name": "a", "y": 10}, {"type": "data", "name": "b", "y": 15}]
    bands = [{"name": "raw", "top": 0, "bottom": 12}, {"name": "primary", "top": 12, "bottom": 30}]
    assert check.compare_layers("p", expected, drawn, bands) == []
    drawn[0]["y"] = 20
    assert check.compare_layers("p", expected, drawn, bands) == [
        "p: a is drawn outside its layer 'raw'"
    ]
    assert "no layer band ['primary']" in check.compare_layers("p", expected, drawn, bands[:1])[0]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.e2e
def test_kedro_viz_draws_every_registered_pipeline(tmp_path, expected):
    needs_kedro_viz()
    if check.find_chromium() is None:
        pytest.skip("no Chromium binary on PATH (Debian: apt-get install chromium; or $CHROMIUM)")
    shot = tmp_path / "kedro_viz.png"
    # The registry read here already: the script need not import the project a second time
    # while kedro-viz loads it (a minute of two cores).
    (tmp_path / "expected.json").write_text(json.dumps(expected))

    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--screenshot",
            str(shot),
            "--expected",
            str(tmp_path / "expected.json"),
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, output
    for name, pipeline in expected.items():
        nodes, datasets = len(pipeline["task"]), len(pipeline["data"])
        assert f"] {name}: {nodes} nodes, {datasets} datasets, layers" in result.stdout, output
    assert "OK: kedro-viz draws every node" in result.stdout
    assert png_size(shot) == (check.WIDTH, check.SHOT_HEIGHT)


@pytest.mark.e2e
def test_kedro_viz_build_writes_the_site_and_every_pipeline(tmp_path, expected):
    """`kedro viz build` in a copy of the project's frame (its code, links to its conf and data),
    so the project's own build/ is left alone."""
    needs_kedro_viz()
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "conf", "data"):
        (project / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))

    result = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    build = project / "build"
    assert "<title>Kedro-Viz</title>" in (build / "index.html").read_text()
    main = json.loads((build / "api" / "main").read_text())
    assert sorted(p["id"] for p in main["pipelines"]) == sorted(expected)
    # In order, raw first and reporting last (empty if they formed a cycle).
    assert set(main["layers"]) == set(expected["__default__"]["layers"].values())
    assert main["layers"][0] == "raw" and main["layers"][-1] == "reporting"
    drawn = {n["name"] for n in main["nodes"] if n["type"] in {"task", "data"}}
    assert drawn == set(expected["__default__"]["task"]) | set(expected["__default__"]["data"])
    for name in expected:
        pipeline = json.loads((build / "api" / "pipelines" / name).read_text())
        assert pipeline["selected_pipeline"] == name
    shutil.rmtree(build)
