"""The tune pipeline's study in a real headless Chromium's MLflow UI: the trials nested under the
tune run, their searched keys, and their parallel-coordinates plot.

The store: ONE real tune run, in-process as tests/pipelines/tune runs it (the tiny landing's
shards through `features`, then `tune` with conf/test's budget raised to 3 trials of 2 epochs),
so each trial is a nested MLflow run with its six `training.*` params, its per-epoch `val_auc`
and its `value`. MLFLOW_TUNE_STORE=DIR reuses a store of such a run (DIR/mlflow.db, DIR/mlruns).

`mlflow server` serves it, and Chromium, with real mouse, wheel and keyboard events, must show:
- the runs page: the tune run alone at first (its trials are folded under it); the searched
  keys and `value` added as columns (the Columns menu); the tune row expanded, then its three
  trials, each row with its own params and value;
- the compare view of the three trials (#/compare-runs?runs=[ids]&experiments=[id]): one column per
  trial, every `training.*` row with each trial's value, and the parallel coordinates plot of
  the learning rate against `value`, whose axes show both and the trials' values.
Every value is compared with what MLflow's client reads from the store. The runs page is saved
as mlflow_tune.png (1280x800) in MLFLOW_TUNE_SCREENSHOT=PATH when set (`make check-ui-tune`:
docs/images/mlflow_tune.png), else in a temporary folder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.browser.support import (
    HEIGHT,
    UI,
    WIDTH,
    CheckFailed,
    js,
    log,
    mlflow_server,
    png_size,
)
from tests.browser.test_mlflow_ui import (
    ROW,
    RUNS_TABLE,
    add_column,
    close_assistant,
    compare_url,
    plot_axes,
    same_number,
)

EXPERIMENT = "tune"  # tests/pipelines/tune/test_tune.py's Tuning: experiment and run name
TRIALS = 3
MONITOR = "val_auc"
VALUE = "value"
PLOTTED = ("training.learning_rate",)
RUN_NAME_COL = "attributes.`Run Name`"


# ---------------------------------------------------------------------------------------------
# The tune run


def make_tune_run(spark, root: Path) -> Path:
    """One tune run of 3 trials x 2 epochs on the tiny landing's shards; its store's folder."""
    from tests.pipelines.conftest import TINY_ROW_COUNT, Lifecycle  # noqa: PLC0415
    from tests.pipelines.tune.test_tune import Tuning  # noqa: PLC0415

    start = time.monotonic()
    lifecycle = Lifecycle(root / "lifecycle", data_quality_overrides=TINY_ROW_COUNT)
    lifecycle.run("features")
    log(f"the tiny landing's shards in {time.monotonic() - start:.1f}s")
    start = time.monotonic()
    tuning = Tuning(root / "tune", lifecycle.root)
    tuning.run(tune={"n_trials": TRIALS})
    log(f"one tune run of {TRIALS} trials in {time.monotonic() - start:.1f}s")
    return root / "tune"


def read_tune_run(store: Path) -> dict:
    """The tune run and its trials ({id, name, params, value, steps}), as MLflow's client reads
    them; raises when the trials are not nested, or lack params or a validation curve."""
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise CheckFailed(f"no experiment {EXPERIMENT!r} in {store / 'mlflow.db'}")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if len(parents) != 1:
        raise CheckFailed(f"{len(parents)} top-level runs in {EXPERIMENT!r}, not one tune run")
    parent = parents[0]
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    if len(nested) != len(runs) - 1 or len(nested) != TRIALS:
        raise CheckFailed(f"{len(nested)} of {len(runs) - 1} runs are trials of the tune run")
    trials = []
    for run in sorted(nested, key=lambda r: int(r.data.tags["tune.trial"])):
        params = {k: v for k, v in run.data.params.items() if k.startswith("training.")}
        if not params or VALUE not in run.data.metrics:
            raise CheckFailed(f"trial {run.info.run_name} logged no training.* params or {VALUE}")
        steps = len(client.get_metric_history(run.info.run_id, MONITOR))
        trials.append(
            {
                "id": run.info.run_id,
                "name": run.info.run_name,
                "params": params,
                "value": run.data.metrics[VALUE],
                "steps": steps,
            }
        )
    if len({tuple(sorted(t["params"])) for t in trials}) != 1:
        raise CheckFailed("the trials logged different params: MLflow cannot compare them")
    if max(t["steps"] for t in trials) < 2:
        raise CheckFailed(f"no trial has a {MONITOR} curve of two epochs or more")
    return {
        "experiment_id": experiment.experiment_id,
        "id": parent.info.run_id,
        "name": parent.info.run_name,
        "trials": trials,
    }


@pytest.fixture(scope="module")
def tune_run(tmp_path_factory, request: pytest.FixtureRequest) -> tuple[Path, dict]:
    if os.environ.get("MLFLOW_TUNE_STORE"):
        store = Path(os.environ["MLFLOW_TUNE_STORE"]).resolve()
    else:
        store = make_tune_run(request.getfixturevalue("spark"), tmp_path_factory.mktemp("tune"))
    run = read_tune_run(store)
    for trial in run["trials"]:
        log(f"{trial['name']} {trial['id']}: {VALUE}={trial['value']} {trial['params']}")
    return store, run


@pytest.fixture(scope="module")
def mlflow_url(tune_run, tmp_path_factory, request: pytest.FixtureRequest):
    with mlflow_server(tune_run[0], tmp_path_factory.mktemp("mlflow_server"), request) as base:
        yield base


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory) -> Path:
    if os.environ.get("MLFLOW_TUNE_SCREENSHOT"):
        return Path(os.environ["MLFLOW_TUNE_SCREENSHOT"]).resolve()
    return tmp_path_factory.mktemp("screenshots") / "mlflow_tune.png"


# ---------------------------------------------------------------------------------------------
# The pages


def shown_as(shown: str, logged: str) -> bool:
    """Whether a cell shows the logged param: a number to its shown precision, a list (the
    compare view pretty-prints JSON) as the same list, else the same text."""
    try:
        return same_number(shown, float(logged))
    except ValueError:
        pass
    try:
        return json.loads(shown) == json.loads(logged)
    except ValueError:
        return shown == logged


def table_rows(page: UI) -> dict[str, dict[str, str]]:
    """The runs table's rendered rows by run name; ag-grid renders only the columns in sight, so
    the cells of a left and a right scroll position are merged."""
    viewport = "document.querySelector('.ag-center-cols-viewport')"
    rows: dict[str, dict[str, str]] = {}
    # Back to the left edge without a wheel: a leftward wheel there is Chromium's "back" swipe.
    page.evaluate(f"{viewport}.scrollLeft = 0")
    for dx in (0, 700, 700, 4000):
        if dx:
            page.wheel(viewport, dx=dx)
        time.sleep(0.7)
        for row in page.evaluate(RUNS_TABLE):
            if RUN_NAME_COL in row:
                rows.setdefault(row[RUN_NAME_COL].splitlines()[-1], {}).update(row)
    return rows


def check_runs_page(page: UI, run: dict, timeout: float) -> None:
    """The tune run alone, its trials folded under it; expanded, each trial's params and value."""
    trials = run["trials"]
    page.wait_for([EXPERIMENT, run["name"], f"{1 + len(trials)} matching runs"], timeout)
    close_assistant(page)
    names = list(trials[0]["params"])
    for column in (*names, VALUE):
        add_column(page, column, timeout)
    page.poll(
        f"{RUNS_TABLE}.some(r => {js(f'metrics.`{VALUE}`')} in r)", timeout, f"no {VALUE} column"
    )
    folded = table_rows(page)
    if list(folded) != [run["name"]]:
        raise CheckFailed(f"before expanding, the table shows {list(folded)}, not the tune run")
    # The tune row's expander: the one button of its Run Name cell.
    parent_cell = (
        f"Array.from(document.querySelectorAll('.ag-row[row-id={js(run['id'])}] "
        f".ag-cell[col-id={js(RUN_NAME_COL)}]')).find(c => c.innerText)"
    )
    if not page.click(f"{parent_cell}.querySelector('button')"):
        raise CheckFailed("the tune run's row has no button to expand its trials")
    page.poll(
        f"document.querySelectorAll('.ag-row[row-index]').length > {len(trials)}",
        timeout,
        "expanding the tune run showed no trials",
    )
    table = table_rows(page)
    log(f"runs table: { {n: len(r) for n, r in table.items()} } cells")
    if sorted(table) != sorted([run["name"], *(t["name"] for t in trials)]):
        raise CheckFailed(f"the expanded table shows {sorted(table)}")
    for trial in trials:
        row = table[trial["name"]]
        for name, logged in trial["params"].items():
            shown = row.get(f"params.`{name}`")
            if shown is None or not shown_as(shown, logged):
                raise CheckFailed(f"{trial['name']}: {name} shows {shown}, logged {logged}")
        shown = row.get(f"metrics.`{VALUE}`")
        if shown is None or not same_number(shown, trial["value"]):
            raise CheckFailed(f"{trial['name']}: {VALUE} shows {shown}, logged {trial['value']}")
    # The searched keys' columns came last: in sight for the screenshot.
    page.wheel("document.querySelector('.ag-center-cols-viewport')", dx=4000)
    page.page.mouse.move(1, HEIGHT - 1)
    time.sleep(0.5)


def check_compare_page(page: UI, run: dict, ids: list[str], timeout: float) -> None:
    """One column per trial, every training.* row with each trial's value, and the plot."""
    trials = {t["id"]: t for t in run["trials"]}
    if sorted(ids) != sorted(trials):
        raise CheckFailed(f"the compare view compares {ids}, not the {len(trials)} trials")
    ordered = [trials[i] for i in ids]
    names = list(ordered[0]["params"])
    page.wait_for([*(t["name"] for t in ordered), *names, "Metrics"], timeout)
    close_assistant(page)
    shown = page.evaluate(ROW % js("Run Name:"))
    if shown != [t["name"] for t in ordered]:
        raise CheckFailed(f"the compare view's run names are {shown}")
    for name in names:
        shown = page.evaluate(ROW % js(name))
        log(f"compare {name} {shown}")
        logged = [t["params"][name] for t in ordered]
        if not shown or len(shown) != len(logged) or not all(map(shown_as, shown, logged)):
            raise CheckFailed(f"the compare view's {name} row shows {shown}, logged {logged}")
    # The parallel coordinates plot: the learning rate against the trials' value.
    axes = plot_axes(page, [*PLOTTED, VALUE], timeout)
    # Each axis is labelled with its range: the lowest and highest trial's value at least.
    values = [t["value"] for t in ordered]
    for value in (min(values), max(values)):
        if not any(same_number(t, value) for t in axes if "." in t):
            raise CheckFailed(f"the plot's {VALUE} axis does not show {value}: {axes}")


# ---------------------------------------------------------------------------------------------
# The test


@pytest.mark.browser
def test_the_tune_runs_trials_are_nested_with_their_params_and_compared(
    ui, mlflow_url, tune_run, screenshot
):
    _, run = tune_run
    start = time.monotonic()
    ui.goto(f"{mlflow_url}/#/experiments/{run['experiment_id']}/runs")
    check_runs_page(ui, run, ui.timeout)
    ui.screenshot(screenshot)
    assert png_size(screenshot) == (WIDTH, HEIGHT)
    # The compare view of the three trials, at the address the runs page's Compare button opens.
    ui.goto(compare_url(mlflow_url, run["experiment_id"], run["trials"]))
    check_compare_page(ui, run, [t["id"] for t in run["trials"]], ui.timeout)
    log(f"the UI checks in {time.monotonic() - start:.1f}s")


def test_trials_that_are_not_nested_fail_the_check(tmp_path):
    """The check is no rubber stamp: trials logged as top-level runs fail it."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment(EXPERIMENT)
    for name in ("tune", "flights trial 0"):
        run = client.create_run(experiment, run_name=name)
        client.log_param(run.info.run_id, "training.dropout", "0.1")
        client.log_metric(run.info.run_id, VALUE, 0.6)
    with pytest.raises(CheckFailed, match="2 top-level runs"):
        read_tune_run(tmp_path)
