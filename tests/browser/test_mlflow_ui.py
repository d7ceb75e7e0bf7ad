"""The MLflow UI in a real headless Chromium (Playwright): two runs of the lifecycle, compared.

The store: two runs that differ in `training.learning_rate` (0.002, then 0.0005).
- By default (`make check-browser`, CI) the test seeds it with two runs shaped like the
  lifecycle's (experiment, run names, flattened params, test metrics, an epoch history): two
  `kedro run`s take minutes on 2 cores.
- MLFLOW_UI_KEDRO_RUNS=1 (`make check-ui`): two `kedro run --env test` runs into a temporary
  sqlite store (the second reuses the first one's data and reruns only training, evaluation and
  registry).
- MLFLOW_UI_STORE=DIR: a store that already has such runs (DIR/mlflow.db, artifacts in
  DIR/mlruns).

`mlflow server` on a free port of 127.0.0.1 serves it, and Chromium, with real mouse, wheel and
keyboard events, must show:
- the runs page, #/experiments/<id>/runs: both run names; the learning rate and
  `test.model.roc_auc` added as columns (the Columns menu), each run's row showing its own;
- the compare view, #/compare-runs?runs=[ids]&experiments=[id]: the Run ID and Run Name rows,
  the learning-rate row (kept by "Show diff only"), the metric's row of the metrics grid
  (scrolled into sight), and the parallel coordinates plot of learning rate against the metric,
  whose axes must show both runs' values.
Every value is compared with what MLflow's client reads from the store. Each page is saved as
mlflow_runs.png and mlflow_compare.png (1280x800), in MLFLOW_UI_SCREENSHOTS=DIR when set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from tests.browser.support import (
    HEIGHT,
    UI,
    WIDTH,
    CheckFailed,
    js,
    log,
    log_tail,
    mlflow_server,
    png_size,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXPERIMENT = "ml-lifecycle"
PARAM = "training.learning_rate"
METRIC = "test.model.roc_auc"
LEARNING_RATES = ("0.002", "0.0005")
# Enough metrics that the compare view's metric grid must be scrolled to show test.model.roc_auc.
SEEDED_METRICS = [
    *(f"rows.{split}" for split in ("train", "validation", "test")),
    *(
        f"test.{who}.{name}"
        for who in ("baseline", "model")
        for name in ("accuracy", "brier", "f1", "log_loss", "pr_auc", "precision", "recall")
    ),
    "test.baseline.roc_auc",
]
SEEDED = (("__default__", "0.002", 0.5621), ("training+evaluation+registry", "0.0005", 0.4430))


# ---------------------------------------------------------------------------------------------
# The two runs


def seed_store(store: Path) -> list[dict]:
    """Two finished runs in store/mlflow.db that differ in the learning rate and the metric."""
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.create_experiment(EXPERIMENT, artifact_location=(store / "mlruns").as_uri())
    runs = []
    for index, (name, lr, auc) in enumerate(SEEDED):
        run = client.create_run(
            experiment, run_name=name, tags={"kedro_env": "test", "pipeline": name}
        )
        now = 1_700_000_000_000 + index * 60_000
        params = {PARAM: lr, "training.epochs": "3", "training.batch_size": "128"}
        metrics = [Metric(m, 0.1 + i / 100, now, 0) for i, m in enumerate(SEEDED_METRICS)]
        metrics.append(Metric(METRIC, auc, now, 0))
        metrics += [Metric("epoch.val_auc", auc - 0.05 * (2 - e), now + e, e) for e in range(3)]
        client.log_batch(
            run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()]
        )
        client.set_terminated(run.info.run_id, "FINISHED")
        runs.append({"id": run.info.run_id, "name": name, "lr": lr, "metric": auc})
    return runs


def make_runs(store: Path) -> None:
    """Two lifecycle runs into store/mlflow.db that differ only in the learning rate."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }
    data = store / "data"
    commands = (
        [],  # the whole lifecycle: ingestion to registry
        ["--pipelines", "training,evaluation,registry"],  # same data, another learning rate
    )
    for lr, extra in zip(LEARNING_RATES, commands, strict=True):
        cmd = [str(BIN / "kedro"), "run", "--env", "test", *extra]
        cmd += ["--params", f"data_dir={data},{PARAM}={lr}"]
        log(" ".join(cmd))
        kedro_log = store / f"kedro_lr{lr}.log"
        with open(kedro_log, "w") as out:
            done = subprocess.run(
                cmd, check=False, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        assert done.returncode == 0, f"kedro run failed ({done.returncode}):\n" + log_tail(
            kedro_log, 30
        )


def read_runs(store: Path) -> tuple[str, list[dict]]:
    """The experiment id and, per learning rate, the latest run that used it."""
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise CheckFailed(f"no experiment {EXPERIMENT!r} in {store / 'mlflow.db'}")
    runs = []
    for lr in LEARNING_RATES:
        found = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"params.`{PARAM}` = '{lr}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not found:
            raise CheckFailed(f"no run with {PARAM}={lr} in {store / 'mlflow.db'}")
        run = found[0]
        if METRIC not in run.data.metrics:
            raise CheckFailed(f"run {run.info.run_id} logged no {METRIC}")
        runs.append(
            {
                "id": run.info.run_id,
                "name": run.info.run_name,
                "lr": lr,
                "metric": run.data.metrics[METRIC],
            }
        )
    return experiment.experiment_id, runs


# ---------------------------------------------------------------------------------------------
# The store, the server, the screenshots


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, list[dict] | None]:
    """The store's folder and, when the test seeded it, the runs it wrote."""
    if os.environ.get("MLFLOW_UI_STORE"):
        return Path(os.environ["MLFLOW_UI_STORE"]).resolve(), None
    folder = tmp_path_factory.mktemp("store")
    if os.environ.get("MLFLOW_UI_KEDRO_RUNS"):
        start = time.monotonic()
        make_runs(folder)
        log(f"two kedro runs in {time.monotonic() - start:.1f}s")
        return folder, None
    return folder, seed_store(folder)


@pytest.fixture(scope="module")
def mlflow_runs(store) -> tuple[str, list[dict]]:
    folder, seeded = store
    experiment_id, runs = read_runs(folder)
    for run in runs:
        log(f"run {run['name']} {run['id']}: {PARAM}={run['lr']} {METRIC}={run['metric']}")
    if seeded is not None:  # what the test wrote is what MLflow's client reads back
        assert [(r["id"], r["name"]) for r in runs] == [(r["id"], r["name"]) for r in seeded]
    return experiment_id, runs


@pytest.fixture(scope="module")
def mlflow_url(store, tmp_path_factory, request: pytest.FixtureRequest):
    """`mlflow server` over the store on a free port of 127.0.0.1; its log's tail on a failure."""
    with mlflow_server(store[0], tmp_path_factory.mktemp("mlflow_server"), request) as base:
        yield base


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """MLFLOW_UI_SCREENSHOTS (docs/images for the README's), else a temporary folder."""
    if os.environ.get("MLFLOW_UI_SCREENSHOTS"):
        return Path(os.environ["MLFLOW_UI_SCREENSHOTS"]).resolve()
    return tmp_path_factory.mktemp("screenshots")


# ---------------------------------------------------------------------------------------------
# The pages


def compare_url(base: str, experiment_id: str, runs: list[dict]) -> str:
    query = urllib.parse.urlencode(
        {
            "runs": json.dumps([r["id"] for r in runs]),
            "experiments": json.dumps([experiment_id]),
        }
    )
    return f"{base}/#/compare-runs?{query}"


def same_number(shown: str, value: float) -> bool:
    """Whether the text the UI shows is the logged value, to the precision it shows."""
    try:
        number = float(shown)
    except ValueError:
        return False
    decimals = len(shown.split(".")[1]) if "." in shown and "e" not in shown.lower() else 0
    return abs(number - value) <= 0.5 * 10**-decimals + 1e-12 * max(1.0, abs(value))


def close_assistant(page: UI) -> None:
    """MLflow 3's assistant panel takes a quarter of the width: close it if it is open."""
    page.click("""Array.from(document.querySelectorAll('button[aria-label=Close]')).find(b => {
      for (let e = b.parentElement, i = 0; e && i < 4; e = e.parentElement, i++) {
        if (e.innerText.includes('MLflow Assistant')) return true;
      }
      return false;
    })""")


# The runs table (ag-grid): the pinned and the scrolling part of a row share its row-index.
RUNS_TABLE = """
(() => {
  const rows = {};
  for (const row of document.querySelectorAll('.ag-row[row-index]')) {
    const cells = rows[row.getAttribute('row-index')] ||= {};
    for (const cell of row.querySelectorAll('.ag-cell[col-id]')) {
      cells[cell.getAttribute('col-id')] = cell.innerText.trim();
    }
  }
  return Object.values(rows);
})()
"""
RUN_NAME_COL, PARAM_COL, METRIC_COL = (
    "attributes.`Run Name`",
    f"params.`{PARAM}`",
    f"metrics.`{METRIC}`",
)


def add_column(page: UI, column: str, timeout: float) -> None:
    """Adds a param or metric column to the runs table, as a person would (the Columns menu)."""
    columns = "Array.from(document.querySelectorAll('button'))"
    if not page.click(f"{columns}.find(b => b.innerText.trim() === 'Columns')"):
        raise CheckFailed("the runs page has no Columns button")
    search = "document.querySelector('input[placeholder=\"Search columns\"]')"
    page.poll(f"!!{search}", timeout, "the Columns menu has no search box")
    page.evaluate(f"{search}.focus(); {search}.select()")
    page.type(column)
    item = (
        "Array.from(document.querySelectorAll('.du-bois-light-tree-title'))"
        f".find(e => e.innerText.trim() === {js(column)})"
    )
    page.poll(f"!!{item}", timeout, f"the Columns menu does not offer {column}")
    checked = "classList.contains('du-bois-light-tree-treenode-checkbox-checked')"
    if not page.evaluate(f"{item}.closest('.du-bois-light-tree-treenode').{checked}"):
        page.click(item)
    page.escape()


def check_runs_page(page: UI, runs: list[dict], timeout: float) -> None:
    """The runs table lists both runs; with the learning rate and the metric added as columns
    (the Columns menu, as a person would), each run's row shows its own values."""
    page.wait_for([EXPERIMENT, *(r["name"] for r in runs)], timeout)
    close_assistant(page)
    for column in (PARAM, METRIC):
        add_column(page, column, timeout)
    # The added columns come last: scroll the table right, as a trackpad would.
    page.poll(
        f"{RUNS_TABLE}.some(r => {js(METRIC_COL)} in r)", timeout, f"no {METRIC} column appeared"
    )
    page.wheel("document.querySelector('.ag-center-cols-viewport')", dx=2000)
    time.sleep(1)
    rows = page.poll(
        f"(() => {{ const rows = {RUNS_TABLE}.filter(r => {js(RUN_NAME_COL)} in r); "
        f"return rows.length >= {len(runs)} && rows.every(r => {js(PARAM_COL)} in r "
        f"&& {js(METRIC_COL)} in r) ? rows : null; }})()",
        timeout,
        f"the runs table shows no {PARAM} and {METRIC} cells",
    )
    table = {r[RUN_NAME_COL].splitlines()[-1]: r for r in rows}
    log(f"runs table: { {n: (r[PARAM_COL], r[METRIC_COL]) for n, r in table.items()} }")
    for run in runs:
        row = table.get(run["name"])
        if row is None:
            raise CheckFailed(f"no row for run {run['name']} in the runs table: {list(table)}")
        if row[PARAM_COL] != run["lr"]:
            raise CheckFailed(f"{run['name']}: {PARAM} shows {row[PARAM_COL]}, not {run['lr']}")
        if not same_number(row[METRIC_COL], run["metric"]):
            raise CheckFailed(
                f"{run['name']}: {METRIC} shows {row[METRIC_COL]}, logged {run['metric']}"
            )


# The compare view's tables: a row is a name, then one value per run in the URL's order.
ROW = """
(() => {
  const head = Array.from(document.querySelectorAll('tr > th, tr > td'))
    .find(c => c.innerText.trim() === %s);
  return head ? Array.from(head.parentElement.children).slice(1).map(c => c.innerText.trim())
              : null;
})()
"""
# Its metrics are a virtualized grid (react-virtualized): names left, values right, a row's
# cells share their `top`. Only the rows scrolled into view exist in the DOM.
METRIC_GRID = "Array.from(document.querySelectorAll('.ReactVirtualized__Grid'))"
METRIC_VALUES = f"{METRIC_GRID}.find(g => getComputedStyle(g).overflowY === 'auto')"
METRIC_ROW = f"""
(() => {{
  const [names, values] = [{METRIC_GRID}.find(g => getComputedStyle(g).overflowY !== 'auto'),
                           {METRIC_VALUES}];
  if (!names || !values) return null;
  const cell = Array.from(names.querySelectorAll('[style]'))
    .find(c => c.innerText.trim() === {js(METRIC)});
  if (!cell) return null;
  const row = Array.from(values.querySelectorAll('[style]'))
    .filter(c => c.style.top === cell.style.top && c.style.left !== '')
    .sort((a, b) => parseFloat(a.style.left) - parseFloat(b.style.left));
  if (!row.length) return null;
  const [grid, first] = [values.getBoundingClientRect(), row[0].getBoundingClientRect()];
  return {{values: row.map(c => c.innerText.trim()),
           visible: first.top >= grid.top && first.bottom <= grid.bottom,
           x: first.x + first.width / 2, y: first.y + first.height / 2}};
}})()
"""


def check_compare_page(page: UI, runs: list[dict], timeout: float) -> list[str]:
    """Run details, the learning-rate row and the metric row, one column per run; returns the
    metric's row as shown."""
    ids, names = [r["id"] for r in runs], [r["name"] for r in runs]
    page.wait_for([*ids, *names, PARAM, *LEARNING_RATES, "Metrics"], timeout)
    close_assistant(page)
    expected = {"Run ID:": ids, "Run Name:": names, PARAM: list(LEARNING_RATES)}
    for head, values in expected.items():
        shown = page.evaluate(ROW % js(head))
        log(f"compare {head} {shown}")
        if shown != values:
            raise CheckFailed(f"the compare view's {head!r} row shows {shown}, not {values}")
    # Only the parameters that differ; the learning rate must be one of them.
    diff_only = "document.querySelector('button[aria-label=\"Parameters - Show diff only\"]')"
    if page.evaluate(f"!!{diff_only} && {diff_only}.getAttribute('aria-checked') !== 'true'"):
        page.click(diff_only)
        page.poll(f"{diff_only}.getAttribute('aria-checked') === 'true'", timeout, "diff only")
        if page.evaluate(ROW % js(PARAM)) != list(LEARNING_RATES):
            raise CheckFailed(f"'Show diff only' hid {PARAM}, which differs")
    page.evaluate(
        f"(() => {{ const c = Array.from(document.querySelectorAll('tr > th'))"
        f".find(c => c.innerText.trim() === {js(PARAM)}); "
        "if (c) c.scrollIntoView({block: 'start'}); })()"
    )
    # Scroll the metrics grid with the mouse wheel until the metric's row is in sight.
    page.poll(f"!!{METRIC_VALUES}", timeout, "the compare view has no metrics grid")
    row = page.wheel_until(
        METRIC_VALUES,
        f"(() => {{ const r = {METRIC_ROW}; return r && r.visible && r; }})()",
        dy=100,
        what=f"{METRIC} in the metrics grid",
    )
    log(f"compare {METRIC} {row['values']}")
    if len(row["values"]) != len(runs) or not all(
        same_number(shown, run["metric"]) for shown, run in zip(row["values"], runs, strict=False)
    ):
        raise CheckFailed(
            f"{METRIC} shows {row['values']}, logged {[r['metric'] for r in runs]} "
            "(in the URL's order)"
        )
    # The names column follows the values one scroll event late: one more event (a pixel up,
    # which also scrolls at the bottom) aligns them.
    page.wheel(METRIC_VALUES, dy=-1)
    time.sleep(0.5)
    plot_learning_rate_vs_metric(page, runs, timeout)
    return row["values"]


# The parallel coordinates plot at the top of the compare view: its two pickers (virtualized
# drop-down lists of every param and every metric).
PICKERS = "document.querySelectorAll('[role=tabpanel] .du-bois-light-select')"
OPEN_LIST = (
    "document.querySelector('.du-bois-light-select-dropdown:not("
    ".du-bois-light-select-dropdown-hidden) .rc-virtual-list-holder')"
)
PLOT_AXES = "Array.from(document.querySelectorAll('.js-plotly-plot text')).map(t => t.textContent)"


def plot_axes(page: UI, names: list[str], timeout: float) -> list[str]:
    """Clears the compare view's parallel coordinates plot, picks `names` as its axes in order,
    as a person would, and returns the plot's axis titles and ticks once all of them show."""
    cleared = page.click(
        "Array.from(document.querySelectorAll('button'))"
        ".find(b => b.innerText.trim() === 'Clear All')"
    )
    if not cleared:
        raise CheckFailed("the compare view has no parallel coordinates plot ('Clear All')")
    for index, name in enumerate(names):
        page.click(f"{PICKERS}[{index}]")
        page.poll(f"!!{OPEN_LIST}", timeout, f"the picker for {name} did not open")
        option = (
            f"Array.from({OPEN_LIST}.querySelectorAll('.du-bois-light-select-item-option'))"
            f".find(o => o.title === {js(name)})"
        )
        page.wheel_until(
            OPEN_LIST,
            f"(() => {{ const o = {option}; if (!o) return false; "
            f"const [h, r] = [{OPEN_LIST}.getBoundingClientRect(), o.getBoundingClientRect()]; "
            "return r.top >= h.top && r.bottom <= h.bottom; })()",
            dy=200,
            what=f"{name} in the picker",
        )
        page.click(option)
        page.escape()
        time.sleep(0.5)
    axes = page.poll(
        f"(() => {{ const t = {PLOT_AXES}; "
        f"return {js(names)}.every(n => t.includes(n)) && t; }})()",
        timeout,
        f"the parallel coordinates plot lacks the {names} axes",
    )
    log(f"compare plot axes and ticks: {axes}")
    return axes


def plot_learning_rate_vs_metric(page: UI, runs: list[dict], timeout: float) -> None:
    """Plots the learning rate against the metric, as a person would pick them, and checks that
    the plot has both axes; leaves the page at its top (plot, run ids and names)."""
    axes = plot_axes(page, [PARAM, METRIC], timeout)
    # Each axis is labelled with its range: both learning rates, both runs' metric values.
    precise = [t for t in axes if len(t.partition(".")[2]) >= 4]
    for value in (*map(float, LEARNING_RATES), *(r["metric"] for r in runs)):
        if not any(same_number(t, value) for t in precise):
            raise CheckFailed(f"the parallel coordinates plot does not show {value}: {axes}")
    page.evaluate(
        "document.querySelector('main') && (document.querySelector('main').scrollTop = 0)"
    )
    page.page.mouse.move(1, HEIGHT - 1)
    time.sleep(1)


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.mark.browser
def test_the_runs_page_shows_both_runs_their_learning_rates_and_the_metric(
    ui, mlflow_url, mlflow_runs, screenshots
):
    experiment_id, runs = mlflow_runs
    ui.goto(f"{mlflow_url}/#/experiments/{experiment_id}/runs")
    check_runs_page(ui, runs, ui.timeout)
    ui.screenshot(screenshots / "mlflow_runs.png")
    assert png_size(screenshots / "mlflow_runs.png") == (WIDTH, HEIGHT)


@pytest.mark.browser
def test_the_compare_view_shows_both_runs_side_by_side_and_plots_the_metric(
    ui, mlflow_url, mlflow_runs, store, screenshots
):
    experiment_id, runs = mlflow_runs
    ui.goto(compare_url(mlflow_url, experiment_id, runs))
    shown = check_compare_page(ui, runs, ui.timeout)
    if store[1] is not None:  # the seeded values, as the grid rounds them
        assert shown == ["0.562", "0.443"]
    ui.screenshot(screenshots / "mlflow_compare.png")
    assert png_size(screenshots / "mlflow_compare.png") == (WIDTH, HEIGHT)


def test_a_run_the_ui_does_not_show_fails_the_check(tmp_path):
    """The check is no rubber stamp: a store without the second learning rate fails it."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment(EXPERIMENT)
    run = client.create_run(experiment, run_name="__default__")
    client.log_param(run.info.run_id, PARAM, "0.002")
    client.log_metric(run.info.run_id, METRIC, 0.56)
    with pytest.raises(CheckFailed, match="no run with training.learning_rate=0.0005"):
        read_runs(tmp_path)


def test_a_shown_number_must_be_the_logged_one_to_its_precision():
    assert same_number("0.562", 0.5621288798920379)
    assert same_number("0.5621288798920379", 0.5621288798920379)
    assert not same_number("0.563", 0.5621288798920379)
    assert not same_number("0.56212", 0.5621)
    assert not same_number("n/a", 0.5)
