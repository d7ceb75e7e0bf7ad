"""The typed `inference` block (conf/base/parameters_inference.yml); not yet read by the
inference nodes (they take `scoring` as a plain dict). Its `cleaning` is the cleaning stage's
own model: the namespaced `clean` node parses it."""

from __future__ import annotations

from ml_lifecycle.core.params import Params
from ml_lifecycle.pipelines.cleaning.params import CleaningParams


class Scoring(Params):
    keys: list[str]
    passthrough: list[str]


class InferenceParams(Params):
    """`inference`: how a new batch is scored and cleaned."""

    scoring: Scoring
    cleaning: CleaningParams
