"""Drift distances by hand, and Spark profiles: a dataset against itself, shifted, new values."""

from __future__ import annotations

import math

import pytest
from scipy.stats import chi2_contingency

from ml_lifecycle.core import drift

THRESHOLDS = {"psi": 0.2, "js": 0.1, "linf": 0.1, "unseen_share": 0.01}


def test_psi_matches_the_formula_and_floors_empty_bins():
    assert drift.psi([50, 50], [50, 50]) == 0.0
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.psi([1, 1], [1, 3]) == pytest.approx(expected)
    # An empty bin is floored at 1e-4 instead of dividing by zero.
    floored = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert drift.psi([1, 1], [0, 4]) == pytest.approx(floored)


def test_js_distance_and_linf_bounds():
    assert drift.js_distance([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0)
    assert drift.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4).
    jsd = (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25) + math.log2(1 / 0.75)) / 2
    assert drift.js_distance([1, 1], [1, 0]) == pytest.approx(math.sqrt(jsd))
    assert drift.linf([1, 1, 2], [1, 2, 1]) == pytest.approx(0.25)


def _rows(n: int, shift: float = 0.0, carriers=("UA", "B6", "EV"), new_every: int = 0):
    rows = []
    for i in range(n):
        carrier = carriers[i % len(carriers)]
        if new_every and i % new_every == 0:
            carrier = "ZZ"
        distance = float(100 + (i * 37) % 1000) + shift
        temp = None if i % 50 == 0 else float((i * 13) % 90)
        rows.append((distance, temp, carrier, i % 24))
    return rows


SCHEMA = "distance double, temp double, carrier string, hour int"
NUMERIC, CATEGORICAL = ["distance", "temp"], ["carrier", "hour"]


def _compare(spark, reference_rows, batch_rows, max_values=1000):
    reference = drift.profile(
        spark.createDataFrame(reference_rows, SCHEMA), NUMERIC, CATEGORICAL, max_values=max_values
    )
    edges = {c: reference["columns"][c]["edges"] for c in NUMERIC}
    batch = drift.profile(
        spark.createDataFrame(batch_rows, SCHEMA),
        NUMERIC,
        CATEGORICAL,
        edges,
        max_values=max_values,
    )
    return {
        name: drift.compare_column(spec, batch["columns"][name])
        for name, spec in reference["columns"].items()
    }, reference


def test_the_g_test_p_value_matches_scipys_and_tolerates_rare_values():
    reference, current = [300, 200, 100, 0, 7], [40, 20, 12, 0, 0]
    table = [[a, b] for a, b in zip(reference, current, strict=True) if a + b]
    _, expected, *_ = chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert drift.homogeneity_p_value(reference, current) == pytest.approx(expected)
    assert drift.homogeneity_p_value([100, 200, 300], [10, 20, 30]) == pytest.approx(1.0)
    assert drift.homogeneity_p_value([100, 0], [0, 100]) < 1e-12
    assert drift.homogeneity_p_value([5], [7]) == 1.0  # one bin: nothing to compare
    # A value seen once among 300,001 reference rows and once in a batch of 1,001 is not, alone,
    # evidence of drift (Pearson's statistic would put its expected count of 0.007 at ~140).
    uniform = [3000] * 100
    assert drift.homogeneity_p_value([*uniform, 1], [10] * 100 + [1]) > 0.5


def test_a_dataset_against_itself_has_no_drift(spark):
    result, reference = _compare(spark, _rows(2000), _rows(2000))
    assert reference["rows"] == 2000
    distance = reference["columns"]["distance"]
    assert len(distance["edges"]) == 9 and sum(distance["counts"]) == 2000
    # Nulls are a bin of their own, not dropped: 40 of 2000 temps are null.
    assert reference["columns"]["temp"]["missing"] == 40
    assert result["distance"]["psi"] == 0.0 and result["temp"]["psi"] == 0.0
    assert result["carrier"]["js"] == 0.0 and result["carrier"]["linf"] == 0.0
    assert all(drift.over_thresholds(d, THRESHOLDS) == [] for d in result.values())


def test_a_shift_on_two_columns_flags_exactly_those(spark):
    shifted = [
        (d, t, "UA" if i % 2 == 0 else c, h)
        for i, (d, t, c, h) in enumerate(_rows(2000, shift=300.0))
    ]
    result, _ = _compare(spark, _rows(2000), shifted)
    flagged = {name for name, d in result.items() if drift.over_thresholds(d, THRESHOLDS)}
    assert flagged == {"distance", "carrier"}
    assert result["distance"]["psi"] > 0.2
    assert result["carrier"]["linf"] > 0.1 and result["carrier"]["unseen_share"] == 0.0


def test_a_new_category_is_flagged_as_unseen(spark):
    result, _ = _compare(spark, _rows(2000), _rows(2000, new_every=20))
    carrier = result["carrier"]
    assert carrier["unseen_values"] == ["ZZ"]
    assert carrier["unseen_share"] == pytest.approx(100 / 2000)
    assert drift.over_thresholds(carrier, {"unseen_share": 0.01}) == ["unseen_share 0.0500 > 0.01"]
    assert drift.over_thresholds(result["hour"], THRESHOLDS) == []


def test_when_the_reference_lumped_rare_values_a_new_one_is_not_called_unseen(spark):
    # Only the 2 most frequent carriers are named; the third is in `other`, like any new value.
    result, reference = _compare(spark, _rows(2000), _rows(2000, new_every=20), max_values=2)
    assert reference["columns"]["carrier"]["other"] > 0
    assert result["carrier"]["unseen_share"] == 0.0
    assert result["carrier"]["unseen_values"] == []
