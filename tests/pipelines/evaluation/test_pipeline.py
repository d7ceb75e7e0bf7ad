"""The evaluation pipeline, run in-process on the tiny landing's model and test split."""

from __future__ import annotations

import math


def test_evaluation_scores_the_model_and_the_baseline_on_the_test_split(lifecycle):
    out = lifecycle.run("evaluation")
    metrics = out["evaluation_metrics"]
    for who in ("model", "baseline"):
        scores = metrics[who]
        assert scores["rows"] == 10, who
        assert 0.0 <= scores["roc_auc"] <= 1.0 and math.isfinite(scores["log_loss"]), who
        # The threshold used: the tuned one, or 0.5 where that one was refused.
        used = 0.5 if scores["threshold_fallback"] else scores["threshold_tuned"]
        assert scores["threshold"] == used, who
    # conf/base slices by origin and carrier, only where 30 rows or more: none of 10 test rows.
    assert metrics["slices"]["model"] == {"origin": {}, "carrier": {}}
    plots = lifecycle.root / "08_reporting" / "evaluation" / "plots"
    assert {"roc_curve.png", "pr_curve.png", "confusion_matrix.png", "calibration.png"} <= {
        p.name for p in plots.iterdir()
    }
    assert out["prediction_profile"]
