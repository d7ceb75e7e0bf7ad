"""benchmarks/model.py's results: per-seed runs shaped into model.json (no benchmark is run)."""

from __future__ import annotations

import statistics

import pytest

from benchmarks.model import TASKS, read_run, report, spread


def _run(seed: int, model: float, baseline: float, iterations: int) -> dict:
    metrics = {
        "model": {"roc_auc": model, "rmse": 9.0},
        "baseline": {
            "roc_auc": baseline,
            "rmse": 9.5,
            "fit": {"iterations": iterations, "max_iter": 500, "stopped_early": iterations < 500,
                    "fit_seconds": 12.5},
        },
    }  # fmt: skip
    history = {"summary": {"epoch_seconds": [3.0, 2.5, 2.25], "epochs_run": 3, "best_epoch": 2}}
    return read_run(seed, "roc_auc", metrics, history, seconds=61.04)


def test_report_has_the_shape_of_model_json_with_mean_and_sd():
    runs = [_run(1, 0.70, 0.69, 120), _run(2, 0.72, 0.68, 500), _run(3, 0.71, 0.70, 90)]
    load = {"before": [0.1, 0.2, 0.3], "after": [0.4, 0.3, 0.3]}
    result = report({"flights_time": runs}, load, {"cores": 2})
    assert set(result) == {"tasks", "load_average", "machine", "date"}
    assert result["load_average"] == load and result["machine"] == {"cores": 2}
    task = result["tasks"]["flights_time"]
    assert set(task) == {"metric", "higher_is_better", "model", "baseline"}
    assert (task["metric"], task["higher_is_better"]) == ("roc_auc", True)
    assert task["model"]["mean"] == pytest.approx(0.71)
    assert task["model"]["sd"] == pytest.approx(statistics.stdev([0.70, 0.72, 0.71]))
    assert task["model"]["sd"] == pytest.approx(0.01)  # the sample standard deviation
    assert task["baseline"]["mean"] == pytest.approx(0.69)
    assert task["baseline"]["sd"] == pytest.approx(0.01)
    first = task["model"]["runs"][0]
    assert first == {"seed": 1, "metric": 0.70, "seconds": 61.0, "train_seconds": 7.8,
                     "epochs_run": 3, "best_epoch": 2}  # fmt: skip
    assert [r["seed"] for r in task["baseline"]["runs"]] == [1, 2, 3]
    assert [r["stopped_early"] for r in task["baseline"]["runs"]] == [True, False, True]
    assert task["baseline"]["runs"][1]["iterations"] == 500
    assert task["baseline"]["runs"][0]["seconds"] == 12.5


def test_regression_is_lower_is_better_and_one_seed_has_no_sd():
    metrics = {
        "model": {"rmse": 30.0},
        "baseline": {"rmse": 31.0, "fit": {"iterations": 40, "max_iter": 500,
                                           "stopped_early": True, "fit_seconds": 1.0}},
    }  # fmt: skip
    history = {"summary": {"epoch_seconds": [1.0], "epochs_run": 1, "best_epoch": 1}}
    run = read_run(7, TASKS["regression"]["metric"], metrics, history, seconds=5.0)
    task = report({"regression": [run]}, {}, {})["tasks"]["regression"]
    assert (task["metric"], task["higher_is_better"]) == ("rmse", False)
    assert task["model"] == {"mean": 30.0, "sd": None, "runs": [{"seed": 7, **run["model"]}]}
    assert spread([]) == {"mean": None, "sd": None}
