"""The run's closing summary, from what datasets that declare `summary` saved (no Spark)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from kedro.io import DatasetError

from ml_lifecycle.core.errors import NoChampionError
from ml_lifecycle.summary import (
    MAX_LINES,
    RunSummaryHooks,
    evaluation_line,
    repairs_line,
    summary_role,
)


class FakeDataset(SimpleNamespace):
    def _describe(self):
        return {"filepath": self.filepath, **({"section": self.section} if self.section else {})}


def _dataset(summary, filepath, section=None):
    return FakeDataset(metadata={"summary": summary}, filepath=filepath, section=section)


class FakeCatalog:
    def __init__(self, datasets):
        self._datasets = datasets

    def get(self, name):
        return self._datasets[name]


REPORTS = "/data/run/08_reporting"
CATALOG = FakeCatalog(
    {
        "acc_in": _dataset("accounting", f"{REPORTS}/row_accounting.json", "ingestion"),
        "acc_clean": _dataset("accounting", f"{REPORTS}/row_accounting.json", "cleaning"),
        "acc_feat": _dataset({"accounting": "features"}, f"{REPORTS}/row_accounting.json"),
        "dq": _dataset("data_quality", f"{REPORTS}/data_quality/summary.json"),
        "metrics": _dataset("evaluation", f"{REPORTS}/evaluation/metrics.json"),
        "gate": _dataset("registry", f"{REPORTS}/registry/gate_decision.json"),
        "plain": FakeDataset(
            metadata={"kedro-viz": {}}, filepath="/elsewhere/x.json", section=None
        ),
    }
)
RUN = {"env": "test", "pipeline_names": None}
DQ_PASSED = {
    "suite": "flights",
    "passed_gate": True,
    "evaluated": 12,
    "failed": [],
    "expectations": [{"name": f"e{i}", "success": True, "severity": "critical"} for i in range(12)],
}
# Cleaning's accounting also counts the values it clipped and imputed, per column.
CLEANED = {
    "clipped": {
        "dep_delay": {"below": 20, "above": 100},
        "wind_speed": {"below": 0, "above": 20},
        "temp": {"below": 6, "above": 0},
        "humid": {"below": 0, "above": 0},
    },
    "imputed": {"wind_gust": 2000, "dep_delay": 1000, "plane_year": 200, "temp": 10, "dewp": 0},
}
METRICS = {"model": {"roc_auc": 0.61234, "pr_auc": 0.4}, "baseline": {"roc_auc": 0.6, "fit": {}}}


def _decision(passed, version="2", champion="1", reasons=()):
    return {
        "model_name": "flight_delay",
        "version": version,
        "passed": passed,
        "reasons": list(reasons),
        "champion": None if champion is None else {"version": champion, "roc_auc": 0.6},
    }


def _hooks(metric="roc_auc", greater=True):
    hooks = RunSummaryHooks()
    context = SimpleNamespace(params={"registry": {"metric": metric, "greater_is_better": greater}})
    hooks.after_context_created(context)
    hooks.after_catalog_created(CATALOG)
    hooks.before_pipeline_run()
    return hooks


def _save_lifecycle(hooks, decision):
    hooks.after_dataset_saved("acc_in", {"in": 3368, "kept": 3274, "quarantined": 94})
    hooks.after_dataset_saved("acc_clean", {**CLEANED, "in": 3274, "kept": 3200, "quarantined": 74})
    hooks.after_dataset_saved("acc_feat", {"in": 3200, "kept": 3200, "quarantined": 0})
    hooks.after_dataset_saved("plain", {"in": 1})
    hooks.after_dataset_saved("dq", DQ_PASSED)
    hooks.after_dataset_saved("metrics", METRICS)
    hooks.after_dataset_saved("gate", decision)


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def logged():
    """The summary logger's records (conf/logging.yml gives it its own handler, not the root's)."""
    summary = logging.getLogger("ml_lifecycle.summary")
    handler, level = Captured(), summary.level
    summary.addHandler(handler)
    summary.setLevel(logging.INFO)
    yield handler
    summary.removeHandler(handler)
    summary.setLevel(level)


def _records(logged):
    return [r for r in logged.records if r.name == "ml_lifecycle.summary"]


def _lines(logged):
    return [line for r in _records(logged) for line in r.getMessage().splitlines()]


def test_a_successful_run_ends_with_one_block_of_at_most_15_lines(logged, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/s/mlflow.db")
    hooks = _hooks()
    _save_lifecycle(hooks, _decision(True))
    hooks.after_pipeline_run(RUN)
    records = _records(logged)
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert _lines(logged) == [
        "Run summary (__default__, env test): succeeded",
        "  rows ingestion: in 3,368, kept 3,274, quarantined 94",
        "  rows cleaning: in 3,274, kept 3,200, quarantined 74",
        "  cleaning: 146 values clipped (dep_delay 120, wind_speed 20, temp 6), "
        "3,210 imputed (wind_gust 2,000, dep_delay 1,000, plane_year 200, 1 more)",
        "  rows features: in 3,200, kept 3,200, quarantined 0",
        "  data quality: passed (12 expectations of suite 'flights')",
        "  model vs baseline: roc_auc 0.6123 vs 0.6000 (model ahead by 0.0123)",
        "  registry: promoted flight_delay v2 to champion (previous: v1)",
        f"  reports: {REPORTS}",
        "  MLflow: MLFLOW_TRACKING_URI=sqlite:////tmp/s/mlflow.db make mlflow-ui",
    ]


def test_lower_is_better_and_data_quality_warnings(logged, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    hooks = _hooks(metric="rmse", greater=False)
    warned = {
        **DQ_PASSED,
        "expectations": [
            {"name": "dep_delay_range", "success": False, "severity": "warning"},
            {"name": "rows", "success": True, "severity": "critical"},
        ],
    }
    hooks.after_dataset_saved("dq", warned)
    hooks.after_dataset_saved("metrics", {"model": {"rmse": 30.0}, "baseline": {"rmse": 28.5}})
    hooks.after_dataset_saved("gate", _decision(True, version="1", champion=None))
    hooks.after_pipeline_run({"env": "regression", "pipeline_names": ["evaluation"]})
    lines = _lines(logged)
    assert lines[0] == "Run summary (evaluation, env regression): succeeded"
    assert "  data quality: passed with 1 warning(s): dep_delay_range" in lines
    assert "  model vs baseline: rmse 30.0000 vs 28.5000 (baseline ahead by 1.5000)" in lines
    assert "  registry: promoted flight_delay v1 to champion (the first one)" in lines
    assert lines[-1] == "  MLflow: make mlflow-ui"
    assert not any(line.strip().startswith("rows") for line in lines)


def test_a_rejected_challenger_is_a_warning(logged):
    hooks = _hooks()
    reason = "vs champion: roc_auc 0.5500 is not >= 0.6020"
    _save_lifecycle(hooks, _decision(False, version="3", champion="2", reasons=[reason]))
    hooks.after_pipeline_run(RUN)
    warnings = [r for r in _records(logged) if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"registry: challenger flight_delay v3 REJECTED ({reason}); champion stays v2"
    ]
    assert len(_lines(logged)) <= MAX_LINES


def test_a_failed_run_says_which_node_failed_in_one_line(logged):
    hooks = _hooks()
    hooks.after_dataset_saved("acc_in", {"in": 10, "kept": 10, "quarantined": 0})
    stopped = {
        "suite": "flights",
        "passed_gate": False,
        "failed": ["row_count"],
        "expectations": [{"name": "row_count", "success": False, "severity": "critical"}],
    }
    hooks.after_dataset_saved("dq", stopped)
    hooks.on_node_error(SimpleNamespace(name="check_quality_gate"))
    error = RuntimeError("Data quality: 1 critical expectation(s) failed\n  - row_count: ...")
    hooks.on_pipeline_error(error, RUN)
    lines = _lines(logged)
    assert lines[0] == "Run summary (__default__, env test): FAILED"
    assert "  data quality: STOPPED, 1 critical failure(s) of suite 'flights': row_count" in lines
    errors = [r.getMessage() for r in _records(logged) if r.levelno == logging.ERROR]
    assert errors == [
        "node check_quality_gate failed: RuntimeError: "
        "Data quality: 1 critical expectation(s) failed"
    ]


def test_a_gate_passed_in_a_failed_run_moves_no_champion(logged):
    hooks = _hooks()
    hooks.after_dataset_saved("gate", _decision(True, version="4", champion="3"))
    hooks.on_node_error(SimpleNamespace(name="registry_update"))
    hooks.on_pipeline_error(ValueError("boom"), RUN)
    assert (
        "  registry: flight_delay v4 passed the gate but the run failed: champion stays v3"
        in _lines(logged)
    )


def test_many_stages_fold_into_at_most_15_lines(logged):
    hooks = _hooks()
    many = {f"acc{i}": _dataset({"accounting": f"s{i}"}, f"{REPORTS}/r.json") for i in range(20)}
    hooks.after_catalog_created(FakeCatalog({**CATALOG._datasets, **many}))
    for i in range(20):
        hooks.after_dataset_saved(f"acc{i}", {"in": i, "kept": i, "quarantined": 0})
    _save_lifecycle(hooks, _decision(False, reasons=["minimum: roc_auc 0.5 is not >= 0.65"]))
    hooks.after_pipeline_run(RUN)
    lines = _lines(logged)
    assert len(lines) <= MAX_LINES
    text = "\n".join(lines)
    assert "rows s0: in 0" in text and "rows s19: in 19" in text and "rows features:" in text
    assert f"  reports: {REPORTS}" in lines


def test_a_new_run_forgets_the_last_ones_data(logged, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    hooks = _hooks()
    _save_lifecycle(hooks, _decision(True))
    hooks.after_pipeline_run(RUN)
    hooks.before_pipeline_run()
    logged.records.clear()
    hooks.after_pipeline_run(RUN)
    assert _lines(logged) == [
        "Run summary (__default__, env test): succeeded",
        "  MLflow: make mlflow-ui",
    ]


def test_an_unknown_summary_role_is_refused_in_one_sentence():
    assert summary_role({"summary": "accounting"}, "x") == ("accounting", "x")
    assert summary_role({"summary": {"accounting": "cleaning"}}, "x") == ("accounting", "cleaning")
    assert summary_role({"kedro-viz": {}}, "x") is None
    with pytest.raises(ValueError, match="metadata.summary must be one of accounting"):
        summary_role({"summary": "rows"}, "x")


def test_a_dataset_error_is_told_by_the_project_error_behind_it(logged):
    hooks = _hooks()
    cause = NoChampionError("The registered model 'm' has no 'champion' version in sqlite://.")
    try:
        raise DatasetError(f"inference.champion: {cause}") from cause
    except DatasetError as wrapped:
        hooks.on_pipeline_error(wrapped, RUN)
    errors = [r.getMessage() for r in _records(logged) if r.levelno == logging.ERROR]
    assert errors == [
        "the run, before any node, failed: NoChampionError: "
        "The registered model 'm' has no 'champion' version in sqlite://."
    ]


def test_a_stage_that_repaired_nothing_says_so_and_the_rest_name_no_column():
    nothing = {"clipped": {"x": {"below": 0, "above": 0}}, "imputed": {"y": 0}}
    assert repairs_line("cleaning", nothing) == "cleaning: 0 values clipped, 0 imputed"
    some = {"clipped": {}, "imputed": {"b": 2, "a": 2, "c": 1}}
    assert repairs_line("inference_cleaning", some) == (
        "inference_cleaning: 0 values clipped, 5 imputed (a 2, b 2, c 1)"
    )


def test_repair_lines_of_many_stages_still_fit_in_15_lines(logged):
    hooks = _hooks()
    many = {f"acc{i}": _dataset({"accounting": f"s{i}"}, f"{REPORTS}/r.json") for i in range(12)}
    hooks.after_catalog_created(FakeCatalog({**CATALOG._datasets, **many}))
    for i in range(12):
        hooks.after_dataset_saved(f"acc{i}", {"in": i, "kept": i, "quarantined": 0, **CLEANED})
    _save_lifecycle(hooks, _decision(True))
    hooks.after_pipeline_run(RUN)
    lines = _lines(logged)
    assert len(lines) <= MAX_LINES
    text = "\n".join(lines)
    assert "s0: 146 values clipped" in text and "s11: 146 values clipped" in text


def test_a_refused_tuned_threshold_is_named_beside_the_metric():
    metrics = {
        "model": {"roc_auc": 0.57, "threshold_fallback": True, "threshold_tuned": 0.32},
        "baseline": {"roc_auc": 0.61},
    }
    assert evaluation_line(metrics) == (
        "model vs baseline: roc_auc 0.5700 vs 0.6100 (baseline ahead by 0.0400); "
        "tuned threshold 0.320 refused, 0.5 used"
    )
    metrics["model"]["threshold_fallback"] = False
    assert evaluation_line(metrics).endswith("(baseline ahead by 0.0400)")
