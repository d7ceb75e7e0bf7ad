"""The "Bring your own dataset" guide (docs/your_dataset.md), followed step by step.

A generated multiclass dataset (orders, each of tier bronze, silver or gold, learnable from the
amount, the item count, the region and the channel; a few missing values, duplicates, a malformed
record and an outlier; a lookup of regions) gets an env of its own, written as the guide's nine
steps say, in a copy of the project's conf folder (`--conf-source`). Then the guide's commands in
order: ingestion and cleaning, profile (the drafted suite is copied to `conf/<env>/expectations/`),
the lifecycle, and `kedro iterate` on the unchanged batch, which retrains nothing. Five `kedro`
subprocesses: `make check-scenarios` (CI), not `make test`.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from ml_lifecycle.orchestration.iterate import plan_retraining
from tests.test_run import KEDRO, ROOT

pytestmark = pytest.mark.scenario

ENV = "orders"
MODEL = "order_tier"
ROWS = 3000
CLASSES = ["bronze", "silver", "gold"]
REGIONS = {"north": 1.2e6, "south": 3.4e5, "east": 8.9e5, "west": 2.1e6, "central": 5.0e5}


def write_dataset(raw: Path, seed: int = 7) -> dict[str, int]:
    """Writes orders.csv.gz and regions.csv under `raw`; returns what was planted in them."""
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True)
    days = rng.integers(0, 366, ROWS)
    dates = np.datetime64("2024-01-01") + days.astype("timedelta64[D]")
    amount = np.round(rng.lognormal(4.0, 0.6, ROWS), 2)
    items = rng.poisson(2.0, ROWS) + 1
    region = rng.choice(list(REGIONS), ROWS)
    channel = rng.choice(["web", "store", "phone"], ROWS, p=[0.5, 0.3, 0.2])
    effect = {"north": 0.6, "south": -0.6, "east": 0.0, "west": 0.3, "central": -0.3}
    score = (
        1.5 * np.log(amount)
        + 0.35 * items
        + np.vectorize(effect.get)(region)
        + np.where(channel == "store", 0.5, 0.0)
        + rng.normal(0, 0.4, ROWS)
    )
    tier = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    rows = [
        {
            "order_id": f"o{i:05d}",
            "ordered_on": str(dates[i]),
            "amount": f"{amount[i]}",
            "items": str(items[i]),
            "region": region[i],
            "channel": channel[i],
            "tier": CLASSES[tier[i]],
        }
        for i in range(ROWS)
    ]
    # What a real extract has: missing values, an outlier, duplicates, an unlabelled row or two
    # and a record that does not parse as declared.
    for i in rng.choice(ROWS, 30, replace=False):
        rows[i]["items"] = ""
    for i in rng.choice(ROWS, 20, replace=False):
        rows[i]["channel"] = ""
    unlabelled = rng.choice(ROWS, 12, replace=False)
    for i in unlabelled:
        rows[i]["tier"] = ""
    rows[5]["amount"] = "9000000.0"
    rows[11]["amount"] = "not a number"
    duplicates = [dict(rows[i]) for i in (100, 200, 300)]
    with gzip.open(raw / "orders.csv.gz", "wt", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows + duplicates)
    with (raw / "regions.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["code", "population"])
        writer.writerows([code, population] for code, population in REGIONS.items())
    return {"rows": ROWS + len(duplicates), "duplicates": len(duplicates)}


def write_env(conf: Path, raw: Path, data: Path) -> Path:
    """conf/<env>/ as the guide's nine steps write it; returns the env's folder."""
    env = conf / ENV
    env.mkdir()
    orders = str(raw / "orders.csv.gz")
    regions = {
        "filepath": str(raw / "regions.csv"),
        "format": "csv",
        "schema": {"code": "string", "population": "double"},
    }
    schema = {
        "order_id": "string",
        "ordered_on": "date",
        "amount": "double",
        "items": "int",
        "region": "string",
        "channel": "string",
        "tier": "string",
    }
    files = {
        # 1. Sources: the main table and its lookup, and the batch inference and monitoring score
        # (by default the same file: the unchanged batch).
        "catalog.yml": {
            "raw_sources": {
                "type": "ml_lifecycle.datasets.SparkSourcesDataset",
                "sources": {
                    "orders": {
                        "filepath": f"${{runtime_params:orders_path, {orders}}}",
                        "format": "csv",
                        "schema": schema,
                    },
                    "regions": regions,
                },
                "metadata": {"kedro-viz": {"layer": "raw"}},
            },
            "inference.raw_sources": {
                "type": "ml_lifecycle.datasets.SparkSourcesDataset",
                "sources": {
                    "orders": {
                        "filepath": f"${{runtime_params:inference_batch_path, {orders}}}",
                        "format": "csv",
                        "schema": schema,
                    },
                    "regions": regions,
                },
                "metadata": {"kedro-viz": {"layer": "raw"}},
            },
        },
        # The env's outputs apart from the sample's, and its own registered model (step 8).
        "globals.yml": {"data_dir": str(data), "model_name": MODEL},
        # 2. Joins and derived columns.
        "parameters_ingestion.yml": {
            "ingestion": {
                "main_source": "orders",
                "joins": [
                    {
                        "source": "regions",
                        "keys": {"region": "code"},
                        "columns": ["population"],
                        "how": "left",
                    }
                ],
                "derived": {
                    "_replace": True,
                    "order_month": "month(ordered_on)",
                    "amount_per_item": "amount / NULLIF(items, 0)",
                },
            }
        },
        # 3. Cleaning rules, every statistic fitted on the training period.
        "parameters_cleaning.yml": {
            "cleaning": {
                "target": {"column": "tier", "on_missing": "quarantine"},
                "required": ["order_id", "ordered_on", "amount", "region"],
                "rules": {"_replace": True, "positive_amount": "amount > 0"},
                "outliers": {
                    "_replace": True,
                    "amount": {"method": "iqr", "k": 5, "action": "clip"},
                },
                "dedupe": {"keys": ["order_id"]},
                "impute": {
                    "_replace": True,
                    "items": "median",
                    "channel": {"strategy": "constant", "value": "unknown"},
                    "population": "median",
                },
                "fit_filter": "ordered_on < DATE'2024-09-01'",
            }
        },
        # 5. The suite's name, for the profile's draft.
        "parameters_profile.yml": {"profile": {"suite_name": ENV}},
        # 6. Features, label, split and task (the multiclass row of "By task").
        "parameters_features.yml": {
            "features": {
                "task": "multiclass",
                "label": (
                    "CASE WHEN tier = 'bronze' THEN 0 WHEN tier = 'silver' THEN 1 "
                    "WHEN tier = 'gold' THEN 2 END"
                ),
                "class_names": CLASSES,
                "forbidden": ["tier"],
                "numeric": {
                    "_replace": True,
                    "amount": "log_zscore",
                    "items": "zscore",
                    "population": "log_zscore",
                    "amount_per_item": "zscore",
                },
                "categorical": {
                    "_replace": True,
                    "region": {"top_k": 100},
                    "channel": {"top_k": 10},
                    "order_month": {"top_k": 12},
                },
                "passthrough": ["ordered_on"],
                "split": {
                    "_replace": True,
                    "method": "time",
                    "time_column": "ordered_on",
                    "cutoffs": {"validation": "2024-09-01", "test": "2024-11-01"},
                    "id_columns": ["order_id"],
                    "seed": 42,
                },
            }
        },
        # 7. The model and its evaluation; small, as a user trying the env out would set it.
        "parameters_training.yml": {
            "training": {
                "early_stopping": {"monitor": "val_loss", "mode": "min"},
                "class_weight": None,
                "epochs": 3,
                "batch_size": 64,
                "hidden_units": [32, 16],
            }
        },
        "parameters_evaluation.yml": {
            "evaluation": {"threshold": "tuned", "slices": ["region"], "baseline": {"max_iter": 30}}
        },
        # 8. The registry gate, in accuracy.
        "parameters_registry.yml": {
            "registry": {
                "minimum": {"_replace": True, "accuracy": 0.45},
                "metric": "accuracy",
                "greater_is_better": True,
            }
        },
        # 9. Iterate retrains on the batch.
        "parameters_monitoring.yml": {
            "iterate": {
                "retrain": {
                    "window": {
                        "_replace": True,
                        "orders_path": f"${{runtime_params:inference_batch_path, {orders}}}",
                    }
                }
            }
        },
    }
    for name, body in files.items():
        (env / name).write_text(yaml.safe_dump(body, sort_keys=False))
    # The test env's small Spark session: the machine running the tests has two cores.
    shutil.copy(conf / "test" / "spark.yml", env / "spark.yml")
    return env


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
