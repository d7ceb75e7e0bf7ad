"""The orders dataset of the "Bring your own dataset" guide (docs/your_dataset.md), generated.

Orders, each of tier bronze, silver or gold, learnable from the amount, the item count, the
region and the channel; a few missing values, duplicates, a malformed record and an outlier; a
lookup of regions. `write_env` writes conf/<env>/ as the guide's nine steps say. tests/test_guide.py
follows the guide on it (3,000 rows, a small model as a user trying the env out sets it);
benchmarks/model.py fits the default model and baseline on a larger draw of it.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import numpy as np
import yaml

ENV = "orders"
MODEL = "order_tier"
ROWS = 3000
CLASSES = ["bronze", "silver", "gold"]
REGIONS = {"north": 1.2e6, "south": 3.4e5, "east": 8.9e5, "west": 2.1e6, "central": 5.0e5}


def write_dataset(raw: Path, seed: int = 7, n_rows: int = ROWS) -> dict[str, int]:
    """Writes orders.csv.gz and regions.csv under `raw`; returns what was planted in them."""
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True)
    days = rng.integers(0, 366, n_rows)
    dates = np.datetime64("2024-01-01") + days.astype("timedelta64[D]")
    amount = np.round(rng.lognormal(4.0, 0.6, n_rows), 2)
    items = rng.poisson(2.0, n_rows) + 1
    region = rng.choice(list(REGIONS), n_rows)
    channel = rng.choice(["web", "store", "phone"], n_rows, p=[0.5, 0.3, 0.2])
    effect = {"north": 0.6, "south": -0.6, "east": 0.0, "west": 0.3, "central": -0.3}
    score = (
        1.5 * np.log(amount)
        + 0.35 * items
        + np.vectorize(effect.get)(region)
        + np.where(channel == "store", 0.5, 0.0)
        + rng.normal(0, 0.4, n_rows)
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
        for i in range(n_rows)
    ]
    # What a real extract has: missing values, an outlier, duplicates, an unlabelled row or two
    # and a record that does not parse as declared.
    for i in rng.choice(n_rows, 30, replace=False):
        rows[i]["items"] = ""
    for i in rng.choice(n_rows, 20, replace=False):
        rows[i]["channel"] = ""
    unlabelled = rng.choice(n_rows, 12, replace=False)
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
    return {"rows": n_rows + len(duplicates), "duplicates": len(duplicates)}


def write_env(conf: Path, raw: Path, data: Path, trial: bool = True) -> Path:
    """conf/<env>/ as the guide's nine steps write it; returns the env's folder.

    `trial`: step 7 sets a small model and baseline, as a user trying the env out would; without
    it the env keeps the project's default training and baseline parameters.
    """
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
    if not trial:
        del files["parameters_training.yml"]
        del files["parameters_evaluation.yml"]["evaluation"]["baseline"]
    for name, body in files.items():
        (env / name).write_text(yaml.safe_dump(body, sort_keys=False))
    # The test env's small Spark session: the machine running the tests has two cores.
    shutil.copy(conf / "test" / "spark.yml", env / "spark.yml")
    return env
