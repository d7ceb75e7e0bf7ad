"""kedro-viz in a real headless Chromium (Playwright): every registered pipeline's DAG, as drawn;
the static build; and the catalog's layers in an order kedro-viz can draw.

1. What to expect comes from the project itself, not from kedro-viz: the pipeline registry
   (`register_pipelines`) gives each pipeline's nodes, datasets, tags and namespaces, the
   catalog configuration (`metadata: kedro-viz: layer:`) each dataset's layer.
2. `kedro viz run --no-browser` on a free port of 127.0.0.1 (kedro-viz takes none above 49151);
   its /api/main must list exactly the registered pipelines.
3. Chromium, with modular pipelines expanded and parameters hidden (the default). Every pipeline
   is picked in the sidebar's pipeline drop-down, with mouse clicks, and its flowchart must draw:
   - one node per registered node (its name without the namespace) and per dataset (its full
     name), nothing missing and nothing else;
   - the layer bands of its datasets' layers, each dataset inside its own layer's band;
   - its tags in the Tags filter, and each namespace as a modular pipeline in the tree; with
     "Collapse all modular pipelines", a single node per namespace instead of its nodes.
   The `__default__` flowchart with its layers is saved (1280x1600) to KEDRO_VIZ_SCREENSHOT
   when set (`make check-viz`: docs/images/kedro_viz.png), else to a temporary folder.

KEDRO_VIZ_ALSO_EXPECT=PIPELINE:NAME[,PIPELINE:NAME] adds names a flowchart must show: a wrong
one makes the browser test fail, which proves it can. The browser test is marked `browser`
(`make check-viz`, `make check-browser`); the build test and the layer tests run with plain
pytest, and those that need kedro-viz skip without it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from kedro.framework.project import pipelines

from tests.browser.support import (
    HOST,
    UI,
    WIDTH,
    CheckFailed,
    free_port,
    js,
    log,
    log_tail,
    png_size,
    process_group,
    wait_for_http,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
SHOT_HEIGHT = 1600  # the lifecycle is a tall graph: the screenshot is 1280x1600
# What kedro-viz keeps in localStorage: no feature tour over the graph, namespaces expanded,
# names as they are in the code, the light theme (readable screenshots).
VIZ_SETTINGS = {
    "showFeatureHints": False,
    "expandAllPipelines": True,
    "isPrettyName": False,
    "theme": "light",
    "layer": {"visible": True},
}
PIPELINE_SELECTOR = "document.querySelector('[data-test=kedro-pipeline-selector]')"
# Task and data nodes as drawn: type, label, and the vertical centre on the screen.
DRAWN_NODES = """
Array.from(document.querySelectorAll('.pipeline-node')).map(n => {
  const r = n.getBoundingClientRect();
  const label = n.querySelector('.pipeline-node__text');
  return {type: n.dataset.nodeType, name: label ? label.textContent.trim() : null,
          y: r.y + r.height / 2};
})
"""
# Layer bands in order, with their names (the labels list the same layers in the same order).
DRAWN_LAYERS = """
(() => {
  const bands = Array.from(document.querySelectorAll('.pipeline-layer'));
  const names = Array.from(document.querySelectorAll('.pipeline-layer-name'));
  return names.map((n, i) => {
    const r = bands[i] ? bands[i].getBoundingClientRect() : null;
    return {name: n.textContent.trim(), top: r && r.top, bottom: r && r.bottom};
  });
})()
"""
DRAWN_TAGS = (
    "Array.from(document.querySelectorAll('.filters-section--type-tag .filters-group .filter-row'))"
    ".map(r => r.title)"
)
# The filter list is virtualized: only its rows in sight exist. What scrolls it is the first
# ancestor that overflows.
FILTERS_SCROLLER = """
(() => {
  for (let e = document.querySelector('.filters-section--type-tag'); e; e = e.parentElement) {
    const style = getComputedStyle(e).overflowY;
    if ((style === 'auto' || style === 'scroll') && e.scrollHeight > e.clientHeight) return e;
  }
  return null;
})()
"""
TREE_NAMESPACES = (
    "Array.from(document.querySelectorAll('.node-list-row'))"
    ".filter(r => r.querySelector('.pipeline-node-icon--icon-modularPipeline'))"
    ".map(r => r.innerText.trim())"
)


# ---------------------------------------------------------------------------------------------
# What the project says the flowcharts must show


def short_name(node) -> str:
    """A node's name as kedro-viz labels it: without its namespace."""
    prefix = f"{node.namespace}." if node.namespace else ""
    return node.name.removeprefix(prefix)


def layer_cycle(pipeline, layer_of: dict[str, str]) -> list[str] | None:
    """A cycle among the layers of a pipeline's datasets, or None. A layer must come before every
    layer downstream of it (kedro-viz's order, through datasets without a layer too): when one
    does not, kedro-viz draws no layers at all for that pipeline."""
    children: dict[str, set[str]] = {}
    for node in pipeline.nodes:
        for source in node.inputs:
            children.setdefault(source.split("@")[0], set()).update(
                out.split("@")[0] for out in node.outputs
            )
    # kedro-viz also draws each namespace (and each of its parents) as a node of its own, from the
    # namespace's free inputs to its outputs that are free or read outside it: a layer order must
    # hold through those edges too.
    namespaces = {
        ".".join(parts[:depth])
        for parts in (node.namespace.split(".") for node in pipeline.nodes if node.namespace)
        for depth in range(1, len(parts) + 1)
    }
    for namespace in namespaces:
        inside = pipeline.only_nodes_with_namespaces([namespace])
        outputs = inside.outputs() | ((pipeline - inside).inputs() & inside.all_outputs())
        for source in inside.inputs():
            children.setdefault(source.split("@")[0], set()).update(
                out.split("@")[0] for out in outputs
            )
    below: dict[str, set[str]] = {}  # dataset -> the layers downstream of it, its own included

    def downstream(dataset: str) -> set[str]:
        if dataset not in below:
            below[dataset] = {layer_of[dataset]} if dataset in layer_of else set()
            for child in children.get(dataset, ()):
                below[dataset] |= downstream(child)
        return below[dataset]

    order: dict[str, set[str]] = {}  # layer -> the layers that must come before it
    for dataset, layer in layer_of.items():
        for later in downstream(dataset) - {layer}:
            order.setdefault(later, set()).add(layer)
    try:
        tuple(TopologicalSorter(order).static_order())
    except CycleError as cycle:
        return cycle.args[1]
    return None


def expectations(env: str | None = None) -> dict[str, dict]:
    """Per registered pipeline: its tasks, datasets, tags, namespaces and each dataset's layer.

    Parameters are left out (kedro-viz hides them unless asked), and a transcoded dataset is
    one node (`name@format` drawn as `name`)."""
    from kedro.framework.project import pipelines, settings  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(ROOT)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(ROOT / settings.CONF_SOURCE), env=env, **settings.CONFIG_LOADER_ARGS
    )
    catalog = loader["catalog"]

    def layer(dataset: str) -> str | None:
        entry = catalog.get(dataset)
        metadata = (entry.get("metadata") or {}) if isinstance(entry, dict) else {}
        return (metadata.get("kedro-viz") or {}).get("layer")

    expected = {}
    for name, pipeline in sorted(pipelines.items()):
        datasets = {
            d.split("@")[0]
            for d in pipeline.datasets()
            if not d.startswith("params:") and d != "parameters"
        }
        expected[name] = {
            "task": sorted({short_name(n) for n in pipeline.nodes}),
            "data": sorted(datasets),
            "layers": {d: layer(d) for d in sorted(datasets) if layer(d)},
            "memory": sorted(d for d in datasets if d not in catalog),  # no entry, no layer
            "tags": sorted({t for n in pipeline.nodes for t in n.tags}),
            "namespaces": sorted(
                {n.namespace.split(".")[0] for n in pipeline.nodes if n.namespace}
            ),
        }
        expected[name]["layer_cycle"] = layer_cycle(pipeline, expected[name]["layers"])
    return expected


# ---------------------------------------------------------------------------------------------
# The check


def compare_nodes(pipeline: str, expected: dict, drawn: list[dict]) -> list[str]:
    """What the flowchart lacks or has in excess, per node type; empty when it is right."""
    problems = []
    for kind in ("task", "data"):
        shown = {n["name"] for n in drawn if n["type"] == kind}
        want = set(expected[kind])
        if missing := sorted(want - shown):
            problems.append(f"{pipeline}: no {kind} node {missing}")
        if extra := sorted(shown - want):
            problems.append(f"{pipeline}: unexpected {kind} node {extra}")
    return problems


def compare_layers(pipeline: str, expected: dict, drawn: list[dict], layers: list[dict]):
    """Every dataset's layer has a band, and the dataset is drawn inside it."""
    if expected.get("layer_cycle"):
        return [f"{pipeline}: the catalog's layers form a cycle {expected['layer_cycle']}"]
    problems = []
    bands = {band["name"]: band for band in layers}
    if missing := sorted(set(expected["layers"].values()) - set(bands)):
        problems.append(f"{pipeline}: no layer band {missing} (shown: {sorted(bands)})")
        return problems
    where = {n["name"]: n["y"] for n in drawn if n["type"] == "data"}
    for dataset, layer in expected["layers"].items():
        band, y = bands[layer], where.get(dataset)
        if y is not None and band["top"] is not None and not band["top"] <= y <= band["bottom"]:
            problems.append(f"{pipeline}: {dataset} is drawn outside its layer {layer!r}")
    return problems


def tag_label(tag: str) -> str:
    """kedro-viz writes tags in the filter list as titles: data_quality -> Data Quality."""
    return tag.replace("_", " ").replace("-", " ").title()


def select_pipeline(page: UI, name: str, timeout: float) -> None:
    """Opens the sidebar's pipeline drop-down and clicks the pipeline, as a person would."""
    if not page.click(f"{PIPELINE_SELECTOR}.querySelector('.dropdown__label')"):
        raise CheckFailed("the sidebar has no pipeline drop-down")
    option = (
        f"Array.from({PIPELINE_SELECTOR}.querySelectorAll('.menu-option'))"
        f".find(o => o.querySelector('.menu-option__content').title === {js(name)})"
    )
    label = f"{PIPELINE_SELECTOR}.querySelector('.dropdown__label').innerText.trim()"
    is_open = f"{PIPELINE_SELECTOR}.getAttribute('aria-expanded') === 'true'"
    deadline = time.monotonic() + timeout
    while True:
        page.poll(f"!!{option}", timeout, f"the pipeline drop-down does not offer {name}")
        time.sleep(0.3)  # the list slides open: click where the option has come to rest
        page.click(option)
        time.sleep(0.3)
        if page.evaluate(f"{label} === {js(name)}"):
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"the pipeline drop-down did not switch to {name}")
        if not page.evaluate(is_open):
            page.click(f"{PIPELINE_SELECTOR}.querySelector('.dropdown__label')")


def check_pipeline(
    page: UI, name: str, expected: dict, timeout: float, collapsed: set[str]
) -> dict:
    """The flowchart of one pipeline: nodes, layers, tags, namespaces (collapsing the ones not
    in `collapsed` yet, which it adds)."""
    select_pipeline(page, name, timeout)
    deadline = time.monotonic() + timeout
    while True:  # the flowchart is laid out, then animated: wait for it to settle
        drawn = [n for n in page.evaluate(DRAWN_NODES) if n["type"] in {"task", "data"}]
        problems = compare_nodes(name, expected, drawn)
        if not problems:
            time.sleep(0.3)  # nodes move into place after they appear
            drawn = [n for n in page.evaluate(DRAWN_NODES) if n["type"] in {"task", "data"}]
            problems = compare_layers(name, expected, drawn, page.evaluate(DRAWN_LAYERS))
        if not problems:
            break
        if time.monotonic() > deadline:
            raise CheckFailed("; ".join(problems))
        time.sleep(0.5)

    tags = drawn_tags(page, {tag_label(t) for t in expected["tags"]})
    if missing := [t for t in expected["tags"] if tag_label(t) not in tags]:
        raise CheckFailed(f"{name}: the Tags filter lacks {missing} (shows {sorted(tags)})")
    if expected["namespaces"]:
        check_namespaces(
            page, name, expected, timeout, collapse=bool(set(expected["namespaces"]) - collapsed)
        )
        collapsed.update(expected["namespaces"])
    return {
        "nodes": sum(n["type"] == "task" for n in drawn),
        "datasets": sum(n["type"] == "data" for n in drawn),
        "layers": [band["name"] for band in page.evaluate(DRAWN_LAYERS)],
        "tags": expected["tags"],
        "namespaces": expected["namespaces"],
    }


def drawn_tags(page: UI, want: set[str]) -> set[str]:
    """The rows of the Tags filter; unless those in sight are all of `want`, every row, the
    list scrolled through with the mouse wheel from the top."""
    tags = set(page.evaluate(DRAWN_TAGS))
    if want <= tags or not page.evaluate(f"!!{FILTERS_SCROLLER}"):
        return tags
    page.evaluate(f"{FILTERS_SCROLLER}.scrollTop = 0")
    time.sleep(0.2)
    still = 0
    while still < 3:
        tags |= set(page.evaluate(DRAWN_TAGS))
        before = page.evaluate(f"{FILTERS_SCROLLER}.scrollTop")
        page.wheel(FILTERS_SCROLLER, dy=120)
        time.sleep(0.2)
        still = still + 1 if page.evaluate(f"{FILTERS_SCROLLER}.scrollTop") == before else 0
    return tags


def check_namespaces(page: UI, name: str, expected: dict, timeout: float, collapse: bool) -> None:
    """Each namespace is a modular pipeline in the tree and, collapsed, one node of the graph."""
    tree = page.evaluate(TREE_NAMESPACES)
    if missing := [ns for ns in expected["namespaces"] if ns not in tree]:
        raise CheckFailed(f"{name}: the tree has no modular pipeline {missing} ({tree})")
    if not collapse:
        return
    toggle = "document.querySelector('[aria-label=\"Collapse all modular pipelines\"]')"
    if not page.click(toggle):
        raise CheckFailed("the toolbar has no 'Collapse all modular pipelines' button")
    collapsed = (
        "Array.from(document.querySelectorAll('.pipeline-node[data-node-type=modularPipeline]'))"
        ".map(n => n.querySelector('.pipeline-node__text').textContent.trim())"
    )
    shown = page.poll(
        f"(() => {{ const s = {collapsed}; "
        f"return {js(expected['namespaces'])}.every(ns => s.includes(ns)) && s; }})()",
        timeout,
        f"{name}: collapsed, the graph has no node for namespace {expected['namespaces']}",
    )
    log(f"{name}: collapsed namespaces drawn as {shown}")
    page.click("document.querySelector('[aria-label=\"Expand all modular pipelines\"]')")
    page.poll(f"({collapsed}).length === 0", timeout, f"{name}: the namespaces did not expand")


DISMISS = (  # the "new version" banner over the top right of the graph
    "Array.from(document.querySelectorAll('button')).find(b => b.innerText.trim() === 'Dismiss')"
)


def open_viz(page: UI, base: str, timeout: float) -> None:
    """kedro-viz's page with VIZ_SETTINGS, its first flowchart drawn, the banner dismissed."""
    page.page.add_init_script(
        script=f"localStorage.setItem('KedroViz', {js(json.dumps(VIZ_SETTINGS))});"
    )
    page.goto(f"{base}/")
    page.poll(f"!!{PIPELINE_SELECTOR}", timeout, "kedro-viz drew no sidebar")
    page.poll(
        "document.querySelectorAll('.pipeline-node').length > 0",
        timeout,
        "kedro-viz drew no flowchart",
    )
    page.click(DISMISS)


def check_every_pipeline(page: UI, expected: dict, timeout: float) -> dict:
    """Picks each pipeline in turn, `__default__` last (the screenshot is the whole lifecycle)."""
    shown, collapsed = {}, set()
    for name in sorted(expected, key=lambda p: (p == "__default__", p)):
        begin = time.monotonic()
        shown[name] = check_pipeline(page, name, expected[name], timeout, collapsed)
        seen = shown[name]
        namespaces = f", namespaces {seen['namespaces']}" if seen["namespaces"] else ""
        log(
            f"{name}: {seen['nodes']} nodes, {seen['datasets']} datasets, layers "
            f"{seen['layers']}, tags {seen['tags']}{namespaces} "
            f"({time.monotonic() - begin:.1f}s)"
        )
    return shown


def take_screenshot(page: UI, path: Path) -> None:
    """The flowchart alone, taller than the checks' window, zoomed to fit, no mouse over it."""
    page.click(DISMISS)  # if the banner came late
    for button in ("Hide menu", "Turn minimap off"):
        page.click(f"document.querySelector({js(f'[aria-label={json.dumps(button)}]')})")
    page.page.set_viewport_size({"width": WIDTH, "height": SHOT_HEIGHT})
    time.sleep(1)
    page.click("document.querySelector('[aria-label=\"Reset zoom\"]')")
    page.page.mouse.move(WIDTH - 1, SHOT_HEIGHT - 1)
    page.evaluate("window.scrollTo(0, 0)")
    time.sleep(1.5)
    page.screenshot(path)


# ---------------------------------------------------------------------------------------------
# Fixtures


def needs_kedro_viz() -> None:
    if importlib.util.find_spec("kedro_viz") is None:
        pytest.skip("kedro-viz is not installed in this environment (pip install kedro-viz)")


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    return expectations()


@pytest.fixture(scope="module")
def viz_process(tmp_path_factory, request: pytest.FixtureRequest):
    """`kedro viz run` on a free port of 127.0.0.1 that kedro-viz accepts (none above 49151);
    its log's tail on a failure."""
    needs_kedro_viz()
    port = free_port(20000, 49151)
    cmd = [sys.executable, "-m", "kedro", "viz", "run", "--host", HOST, "--port", str(port)]
    cmd += ["--no-browser"]
    viz_log = tmp_path_factory.mktemp("kedro_viz") / "kedro_viz.log"
    failures = request.session.testsfailed
    with process_group(cmd, viz_log, cwd=ROOT, env=ENV) as viz:
        yield viz, f"http://{HOST}:{port}"
        if request.session.testsfailed > failures:
            print(log_tail(viz_log), file=sys.stderr)  # noqa: T201


@pytest.fixture(scope="module")
def viz_url(viz_process, expected) -> str:
    """kedro-viz's address once it answers (the registry is read while it loads the project)."""
    viz, base = viz_process
    seconds = wait_for_http(f"{base}/api/main", 360, viz, "kedro viz")
    log(f"kedro-viz answered on {base} after {seconds:.1f}s")
    return base


@pytest.fixture
def screenshot(tmp_path: Path) -> Path:
    if os.environ.get("KEDRO_VIZ_SCREENSHOT"):
        return Path(os.environ["KEDRO_VIZ_SCREENSHOT"]).resolve()
    return tmp_path / "kedro_viz.png"


# ---------------------------------------------------------------------------------------------
# The browser test


@pytest.mark.browser
def test_kedro_viz_draws_every_registered_pipeline(ui, viz_url, expected, screenshot):
    want = copy.deepcopy(expected)
    for item in filter(None, os.environ.get("KEDRO_VIZ_ALSO_EXPECT", "").split(",")):
        pipeline, node = item.split(":", 1)
        assert pipeline in want, f"KEDRO_VIZ_ALSO_EXPECT: no pipeline {pipeline!r} in the registry"
        want[pipeline]["task"].append(node)
    with urllib.request.urlopen(f"{viz_url}/api/main", timeout=ui.timeout) as response:
        served = sorted(p["id"] for p in json.load(response)["pipelines"])
    assert served == sorted(want), f"kedro-viz serves {served}, the registry has {sorted(want)}"

    open_viz(ui, viz_url, ui.timeout)
    shown = check_every_pipeline(ui, want, ui.timeout)
    take_screenshot(ui, screenshot)

    assert sorted(shown) == sorted(want)
    for name, pipeline in want.items():
        assert shown[name]["nodes"] == len(pipeline["task"]), name
        assert shown[name]["datasets"] == len(pipeline["data"]), name
    assert png_size(screenshot) == (WIDTH, SHOT_HEIGHT)


# ---------------------------------------------------------------------------------------------
# Without a browser: the static build, the layers, the comparisons


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


def test_every_pipeline_draws_its_layers_in_one_order(expected):
    """kedro-viz draws no layer bands for a pipeline whose layers form a cycle."""
    cycles = {name: e["layer_cycle"] for name, e in expected.items() if e["layer_cycle"]}
    assert not cycles


def test_a_report_read_upstream_of_the_primary_layer_is_a_cycle(expected):
    """The check can fail: the data-quality summary back in `reporting`, where it was before the
    gate read it to split the primary table, makes primary -> reporting -> primary."""
    layers = {**expected["data_quality"]["layers"], "data_quality_summary": "reporting"}
    cycle = layer_cycle(pipelines["data_quality"], layers)
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
    problems = compare_nodes("p", expected, drawn)
    assert problems == ["p: no task node ['clean']", "p: unexpected data node ['stray']"]


def test_a_dataset_outside_its_layer_band_fails_the_comparison():
    expected = {"layers": {"a": "raw", "b": "primary"}}
    drawn = [{"type": "data", "name": "a", "y": 10}, {"type": "data", "name": "b", "y": 15}]
    bands = [{"name": "raw", "top": 0, "bottom": 12}, {"name": "primary", "top": 12, "bottom": 30}]
    assert compare_layers("p", expected, drawn, bands) == []
    drawn[0]["y"] = 20
    assert compare_layers("p", expected, drawn, bands) == ["p: a is drawn outside its layer 'raw'"]
    assert "no layer band ['primary']" in compare_layers("p", expected, drawn, bands[:1])[0]
