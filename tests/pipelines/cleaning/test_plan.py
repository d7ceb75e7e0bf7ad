"""The cleaning plan: imputed values obey the clip bounds, so a second application is a no-op."""

from __future__ import annotations

import logging

import pandas as pd

from ml_lifecycle.model import cleaning_plan
from ml_lifecycle.pipelines.cleaning.params import CleaningParams
from ml_lifecycle.pipelines.cleaning.plan import build_plan

CLEANING = {
    "target": None,
    "required": [],
    "types": {},
    "rules": {},
    "outliers": {"delay": {"method": "iqr", "k": 1.5, "action": "clip"}},
    "dedupe": None,
    "impute": {"delay": {"strategy": "constant", "value": -999.0}, "gust": "median"},
    "fit_filter": None,
    "quantile_accuracy": 10000,
}
STATISTICS = {
    "outliers": {"delay": {"lower": -30.0, "upper": 120.0}},
    "impute": {"delay": -999.0, "gust": 4.0},
}


def test_an_imputed_value_outside_the_clip_bounds_is_clipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        plan = build_plan(
            CleaningParams(**CLEANING), STATISTICS, {"delay": "double", "gust": "double"}
        )
    assert plan["columns"]["delay"] == {
        "type": "double",
        "coerce": None,
        "clip": [-30.0, 120.0],
        "impute": -30.0,
    }
    assert plan["columns"]["gust"]["impute"] == 4.0  # no bounds: as fitted
    assert "cleaning.impute.delay: -999.0 lies outside the clip bounds" in caplog.text

    rows = pd.DataFrame({"delay": [None, 500.0, 10.0], "gust": [None, 1.0, 2.0]})
    once = cleaning_plan.apply(rows, plan)
    assert once["delay"].tolist() == [-30.0, 120.0, 10.0]
    pd.testing.assert_frame_equal(cleaning_plan.apply(once, plan), once)
