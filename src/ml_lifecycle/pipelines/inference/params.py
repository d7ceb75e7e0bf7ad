"""The typed `inference` block (conf/base/parameters_inference.yml): `score_batch` parses
`scoring`; `cleaning` is the cleaning stage's own model, which the namespaced `clean` node
parses."""

from __future__ import annotations

from ml_lifecycle.core.params import Params
from ml_lifecycle.pipelines.cleaning.params import CleaningParams


class Scoring(Params):
    """`inference.scoring`: the columns written next to each prediction, to join it back."""

    keys: list[str]
    passthrough: list[str]


class InferenceParams(Params):
    """`inference`: how a new batch is scored and cleaned."""

    scoring: Scoring
    cleaning: CleaningParams
