"""The typed `evaluation` block; defined in ml_lifecycle.model.params (the registry gate scores
with it too, through ml_lifecycle.model.scoring)."""

from ml_lifecycle.model.params import Baseline, EvaluationParams

__all__ = ["Baseline", "EvaluationParams"]
