"""The typed `tune` block (conf/base/parameters_tune.yml): the search, its budget, its space."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import Params, parse
from ml_lifecycle.model.overrides import check_key

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class FloatDistribution(Params):
    type: Literal["float"]
    low: float
    high: float
    log: bool


class IntDistribution(Params):
    type: Literal["int"]
    low: int
    high: int
    log: bool


class CategoricalDistribution(Params):
    type: Literal["categorical"]
    # Scalars or lists (hidden_units): a list is offered to Optuna as its JSON text.
    choices: Annotated[list[Any], Field(min_length=1)]


Distribution = Annotated[
    FloatDistribution | IntDistribution | CategoricalDistribution, Field(discriminator="type")
]


class Pruner(Params):
    """Optuna's MedianPruner: a trial stops when its epoch is worse than the median's."""

    n_startup_trials: NonNegativeInt
    n_warmup_steps: NonNegativeInt


class TuneParams(Params):
    """`tune`: an Optuna study (seeded TPE, median pruning) over training keys."""

    study_name: Annotated[str, Field(min_length=1)]
    n_trials: PositiveInt  # complete + pruned trials of the study, resumed runs included
    timeout_minutes: Annotated[float, Field(gt=0)] | None
    seed: int
    pruner: Pruner
    max_epochs: PositiveInt
    space: Annotated[dict[str, Distribution], Field(min_length=1)]


def parse_tune(value: Any, env: str | None = None) -> TuneParams:
    """Returns `value` as TuneParams; a space key that is not a training key, or a range with
    low >= high, is one ConfigError sentence naming `tune.space.<key>`."""
    params = parse(TuneParams, value, "tune", env)
    for key, spec in params.space.items():
        check_key(key, "tune.space")
        if spec.type != "categorical" and spec.low >= spec.high:
            raise ConfigError(f"tune.space.{key} needs low < high, not {spec.low} >= {spec.high}.")
    return params
