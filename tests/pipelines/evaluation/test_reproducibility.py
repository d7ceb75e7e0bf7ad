"""Reproducibility on the test slice: the same seed and data give the same test metrics.

The committed 1 % slice goes through ingestion, cleaning, data quality and features in-process
(env `test`, its data under a temporary folder); the model is then trained with conf/test's
`training` block three times and scored on the test split with conf/test's `evaluation` block.
About two minutes on 2 cores: the end-to-end tier (`make check-all`), not `make test`, which
checks the same on synthetic shards (tests/pipelines/training/test_nodes.py).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.framework.project import pipelines
from kedro.runner import SequentialRunner

from ml_lifecycle.pipelines.evaluation.nodes import evaluate_baseline, evaluate_model
from ml_lifecycle.pipelines.training.nodes import train_model
from tests.pipelines.conftest import project_catalog

ROOT = Path(__file__).parents[3]
SLICE = ROOT / "data/01_raw/nycflights13_slice"
pytestmark = pytest.mark.e2e

STAGES = ("ingestion", "cleaning", "data_quality", "features")


@pytest.fixture(scope="module")
def slice_input(spark, tmp_path_factory) -> dict[str, Any]:
    """The slice's model input, statistics and conf/test's parameters (env `test`)."""
    catalog = project_catalog(tmp_path_factory.mktemp("slice"), env="test", raw_dir=SLICE)
    for stage in STAGES:
        SequentialRunner().run(pipelines[stage], catalog)
    names = ("train", "validation", "test")
    return {
        "splits": {name: catalog.load(f"model_input_{name}") for name in names},
        "statistics": catalog.load("feature_statistics"),
        "training": {**catalog.load("params:training"), "tensorboard_dir": None},
        "evaluation": catalog.load("params:evaluation"),
    }


def _train_and_score(data: dict[str, Any], seed: int, **changes: Any):
    splits, statistics = data["splits"], data["statistics"]
    params = {**copy.deepcopy(data["training"]), "seed": seed, **changes}
    model, history = train_model(splits["train"], splits["validation"], statistics, params)
    scored = evaluate_model(model, splits["validation"], splits["test"], statistics,
                            data["evaluation"])  # fmt: skip
    return model, history, scored["metrics"]


def _numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """Every number of a nested metrics dict, by its dotted path."""
    if isinstance(value, dict):
        return {
            k: v
            for key, item in value.items()
            for k, v in _numbers(item, f"{prefix}{key}.").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in _numbers(item, f"{prefix}{i}.").items()
        }
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {}
    return {prefix.rstrip("."): float(value)}


def test_same_seed_gives_the_same_test_metrics_and_another_seed_other_weights(slice_input):
    seed = slice_input["training"]["seed"]
    first_model, first_history, first = _train_and_score(slice_input, seed)
    second_model, second_history, second = _train_and_score(slice_input, seed)
    assert first_history["summary"]["train_rows"] > 1000  # the slice, not a toy
    assert first_history["summary"]["epochs_run"] == second_history["summary"]["epochs_run"]
    a, b = _numbers(first), _numbers(second)
    assert set(a) == set(b) and {"roc_auc", "log_loss", "rows"} <= set(a)
    for key, value in a.items():
        if math.isnan(value):
            assert math.isnan(b[key]), key
        else:
            assert b[key] == pytest.approx(value, abs=1e-6, rel=0), key
    for w1, w2 in zip(first_model.get_weights(), second_model.get_weights(), strict=True):
        np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-6)

    other_model, _, _ = _train_and_score(slice_input, seed + 1, epochs=1)  # weights differ at once
    differ = [
        not np.allclose(w1, w2, rtol=0, atol=1e-6)
        for w1, w2 in zip(first_model.get_weights(), other_model.get_weights(), strict=True)
    ]
    assert any(differ)  # the seed reaches the initial weights, dropout and the shuffle


def test_baseline_is_reproducible_with_its_seed(slice_input):
    splits, statistics = slice_input["splits"], slice_input["statistics"]
    runs = [
        evaluate_baseline(
            splits["train"],
            splits["validation"],
            splits["test"],
            statistics,
            slice_input["evaluation"],
        )  # fmt: skip
        for _ in range(2)
    ]
    fits = [{k: v for k, v in run["fit"].items() if k != "fit_seconds"} for run in runs]
    assert fits[0] == fits[1] and fits[0]["iterations"] > 1
    assert runs[0]["metrics"]["roc_auc"] == pytest.approx(runs[1]["metrics"]["roc_auc"], abs=1e-12)
