"""The champion's drift reference, taken from the profiles its dataset brought along."""

from __future__ import annotations

import pytest

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.pipelines.monitoring.nodes import champion_reference

PROFILE = {"rows": 10, "columns": {"distance": {"kind": "numeric", "edges": [0.0, 1.0]}}}
PREDICTIONS = {"rows": 9, "columns": {"prediction": {"kind": "numeric", "edges": [0.5]}}}


def _champion(**artifacts):
    return {
        "model_name": "m",
        "model_version": "3",
        "model_run_id": "r",
        "artifacts": {"reference_profile": None, "prediction_profile": None, **artifacts},
    }


def test_the_reference_is_the_champions_two_profiles():
    reference = champion_reference(
        _champion(reference_profile=PROFILE, prediction_profile=PREDICTIONS)
    )
    assert reference == {
        "model": {"name": "m", "version": "3", "run_id": "r"},
        "rows": 10,
        "prediction_rows": 9,
        "columns": {
            "distance": PROFILE["columns"]["distance"],
            "prediction": PREDICTIONS["columns"]["prediction"],
        },
    }


def test_a_champion_without_a_profile_says_how_to_get_one():
    with pytest.raises(ConfigError) as error:
        champion_reference(_champion(reference_profile=PROFILE))
    message = str(error.value)
    assert "m v3 (run r) has no monitoring/prediction_profile.json" in message
    assert "`kedro run`" in message
