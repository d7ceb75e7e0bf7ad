"""The "Bring your own dataset" guide (docs/your_dataset.md), followed step by step.

The generated multiclass orders dataset of tests/guide_orders.py (tiers learnable from the
amount, the item count, the region and the channel; missing values, duplicates, a malformed record,
an outlier; a lookup of regions) gets an env of its own, written as the guide's nine steps say, in
a copy of the project's conf folder (`--conf-source`). Then the guide's commands in order:
ingestion and cleaning, profile (the drafted suite is copied to `conf/<env>/expectations/`), the
lifecycle, and `kedro iterate` on the unchanged batch, which retrains nothing. Five `kedro`
subprocesses: `make check-scenarios` (CI), not `make test`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from ml_lifecycle.orchestration.iterate import plan_retraining
from tests.guide_orders import ENV, MODEL, write_dataset, write_env
from tests.test_run import KEDRO, ROOT

pytestmark = pytest.mark.scenario


def kedro(command: str, *args: str, conf: Path, tracking: Path) -> subprocess.CompletedProcess:
    cmd = [KEDRO, command, "--env", ENV, "--conf-source", str(conf), *args]
    environ = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tracking}"
    result = subprocess.run(
        cmd, check=False, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, (
        " ".join(cmd) + "\n" + result.stdout[-4000:] + result.stderr[-4000:]
    )
    return result


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _accounts(data: Path) -> dict[str, dict]:
    """Every stage of row_accounting.json that counts rows in, kept and quarantined."""
    report = _json(data / "08_reporting/row_accounting.json")
    return {
        name: stage for name, stage in report.items() if isinstance(stage, dict) and "in" in stage
    }


def _summary(stdout: str) -> list[str]:
    """The run summary: its header line to the end of stdout."""
    lines = [line.rstrip() for line in stdout.rstrip().splitlines()]
    start = max(i for i, line in enumerate(lines) if "Run summary (" in line)
    return lines[start:]


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """Every step of the guide run in order; returns the folders and each command's result."""
    root = tmp_path_factory.mktemp("guide")
    raw, data, conf, tracking = root / "raw", root / "data", root / "conf", root / "mlflow.db"
    planted = write_dataset(raw)
    shutil.copytree(ROOT / "conf", conf)
    env = write_env(conf, raw, data)
    results = {}
    # 4. Ingestion and cleaning once, to read the quarantine.
    results["clean"] = kedro(
        "run", "--pipelines", "ingestion,cleaning", conf=conf, tracking=tracking
    )
    first = _accounts(data)
    # 5. The draft suite, copied where the guide says (it already carries `_replace: true`).
    results["profile"] = kedro("run", "--pipelines", "profile", conf=conf, tracking=tracking)
    draft = data / "08_reporting/profile/expectation_suite.yml"
    (env / "expectations").mkdir()
    shutil.copy(draft, env / "expectations" / f"{ENV}.yml")
    # The lifecycle, then iterate on the unchanged batch.
    results["lifecycle"] = kedro("run", conf=conf, tracking=tracking)
    results["iterate"] = kedro("iterate", conf=conf, tracking=tracking)
    for name, result in results.items():  # kept beside the data, to read when a check fails
        (root / f"{name}.log").write_text(result.stdout + result.stderr)
    return {
        "root": root,
        "data": data,
        "env": env,
        "draft": draft,
        "tracking": tracking,
        "planted": planted,
        "first": first,
        "results": results,
    }


def test_ingestion_and_cleaning_account_for_every_row(guide):
    first, planted = guide["first"], guide["planted"]
    ingestion, cleaning = first["ingestion"], first["cleaning"]
    assert ingestion["in"] == planted["rows"]
    assert ingestion["quarantined_by_reason"] == {"malformed_record": 1}
    assert cleaning["in"] == ingestion["kept"]
    # 12 rows without a tier (one of them perhaps also the malformed or a duplicate's twin).
    reasons = cleaning["quarantined_by_reason"]
    assert 11 <= reasons["missing_target:tier"] <= 12
    assert reasons["duplicate_key:order_id"] == planted["duplicates"]
    for name, stage in first.items():
        assert stage["in"] == stage["kept"] + stage["quarantined"], (name, stage)


def test_the_drafted_suite_goes_to_the_env_and_the_lifecycle_validates_with_it(guide):
    draft = yaml.safe_load(guide["draft"].read_text())
    suite = draft["expectation_suite"]
    assert draft["expectation_suite"]["_replace"] is True and suite["name"] == ENV
    columns = json.dumps(suite["expectations"])
    assert "amount" in columns and "population" in columns and "arr_delay" not in columns
    summary = _json(guide["data"] / "08_reporting/data_quality/summary.json")
    assert summary["passed_gate"] is True


def test_the_lifecycle_accounts_trains_evaluates_and_registers_a_champion(guide):
    data = guide["data"]
    accounts = _accounts(data)
    assert {"ingestion", "cleaning", "data_quality", "features"} <= set(accounts)
    for name, stage in accounts.items():
        assert stage["in"] == stage["kept"] + stage["quarantined"], (name, stage)
    metrics = _json(data / "08_reporting/evaluation/metrics.json")["model"]
    assert {"accuracy", "macro_f1", "log_loss"} <= set(metrics)
    assert metrics["accuracy"] > 1 / 3 + 0.1, metrics
    plots = {p.name for p in (data / "08_reporting/evaluation/plots").iterdir()}
    assert {"roc_curve.png", "pr_curve.png", "calibration.png", "confusion_matrix.png"} <= plots
    client = MlflowClient(f"sqlite:///{guide['tracking']}")
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"


def test_the_lifecycle_ends_with_its_summary_naming_the_champion(guide):
    lines = _summary(guide["results"]["lifecycle"].stdout)
    assert 4 <= len(lines) <= 15, lines
    assert f"env {ENV}): succeeded" in lines[0]
    assert any(f"promoted {MODEL} v1 to champion" in line for line in lines), lines
    assert "MLflow:" in lines[-1]


def test_iterate_on_the_unchanged_batch_retrains_nothing(guide):
    data = guide["data"]
    decision = _json(data / "08_reporting/iterate/decision.json")
    assert decision["retrain"] is False and decision["reasons"] == [], decision
    outcome = _json(data / "08_reporting/iterate/outcome.json")
    assert outcome == {"retrained": False, "reasons": []}
    assert not (data / "iterate").exists()
    drift = _json(data / "08_reporting/monitoring/drift.json")
    assert drift["over"] == {} and drift["model"]["version"] == "1"
    client = MlflowClient(f"sqlite:///{guide['tracking']}")
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert [str(v.version) for v in versions] == ["1"]
    output = guide["results"]["iterate"]
    assert re.search("nothing to retrain", output.stdout + output.stderr)


def test_iterate_passes_its_conf_source_on_to_the_retraining_run():
    decision = {
        "retrain": True,
        "reasons": ["drift"],
        "retraining": {
            "window": {"orders_path": "/landing"},
            "pipelines": ["ingestion", "training"],
            "data_dir": "/data/iterate",
            "params": {},
        },
    }
    retraining = plan_retraining(decision, ENV, {}, "run1", conf_source="/elsewhere/conf")
    command = retraining.command
    assert command[command.index("--conf-source") + 1] == "/elsewhere/conf"
    assert command[command.index("--env") + 1] == ENV
    assert "--conf-source" not in plan_retraining(decision, ENV, {}, "run1").command
