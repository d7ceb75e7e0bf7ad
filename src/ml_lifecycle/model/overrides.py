"""Training parameters overridden by dotted keys: the tuned block, a tuning trial's choices.

`training_tuned` (conf/<env>/parameters_training_tuned.yml, written by `kedro run --pipelines
tune`) maps training keys, dotted (`schedule.name: constant`) or nested (`schedule: {name:
constant}`), to the values that replace `training`'s. A trial of the search applies its sampled
values the same way. Changing `schedule.name` keeps only the keys the new schedule reads.
"""

from __future__ import annotations

import copy
import difflib
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ml_lifecycle.core.errors import ConfigError
from ml_lifecycle.core.params import parse
from ml_lifecycle.model.params import TrainingParams


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Returns the models an annotation can be (a model, an Annotated one or a union of them)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _models(args[0])
    return [model for arg in args for model in _models(arg)]


def check_key(dotted: str, where: str) -> None:
    """Raises ConfigError, naming `<where>.<dotted>`, unless `dotted` is a key of `training`."""
    holders: list[type[BaseModel]] = [TrainingParams]
    for part in dotted.split("."):
        known = sorted({name for model in holders for name in model.model_fields})
        if part not in known:
            close = difflib.get_close_matches(part, known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"its keys: {', '.join(known)}."
            raise ConfigError(f"{where}.{dotted} is not a key of the training block; {hint}")
        holders = [
            m for model in holders if part in model.model_fields
            for m in _models(model.model_fields[part].annotation)
        ]  # fmt: skip


def flatten(overrides: Mapping[str, Any], training: Mapping[str, Any]) -> dict[str, Any]:
    """Returns {dotted key: value}: a nested mapping is descended where `training` has one."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        base = training.get(key) if isinstance(training, Mapping) else None
        if isinstance(value, Mapping) and isinstance(base, Mapping) and value:
            out.update({f"{key}.{k}": v for k, v in flatten(value, base).items()})
        else:
            out[str(key)] = value
    return out


def _schedule_keys(name: Any) -> set[str] | None:
    for model in _models(TrainingParams.model_fields["schedule"].annotation):
        if name in typing.get_args(model.model_fields["name"].annotation):
            return set(model.model_fields)
    return None


def apply(training: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Returns a copy of the plain `training` block with the dotted `overrides` set in it."""
    merged = copy.deepcopy(dict(training))
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        holder = merged
        for part in parents:
            holder = holder.setdefault(part, {})
        holder[last] = copy.deepcopy(value)
        if dotted == "schedule.name" and isinstance(holder, dict):
            keys = _schedule_keys(value)  # a schedule of another kind reads other keys
            for extra in set(holder) - (keys or set(holder)):
                del holder[extra]
    return merged


def merge_tuned(
    training: Mapping[str, Any],
    tuned: Mapping[str, Any] | None,
    env: str | None = None,
    where: str = "training_tuned",
) -> tuple[TrainingParams, list[str]]:
    """Returns `training` with `tuned` applied, parsed, and the dotted keys it set.

    A key that is not a training key, or a value the training block does not accept, is one
    ConfigError sentence naming `<where>.<key>` (`training_tuned.<key>`, `tune.space.<key>`).
    """
    if tuned is None:
        tuned = {}
    if not isinstance(tuned, Mapping):
        raise ConfigError(
            f"training_tuned must be a mapping of training keys, not {tuned!r}; "
            "see conf/base/parameters_tune.yml."
        )
    if isinstance(training, BaseModel):
        training = training.model_dump()
    if not isinstance(training, Mapping):
        parse(TrainingParams, training, "training", env)  # raises its sentence
    flat = flatten(tuned, training)
    for dotted in flat:
        check_key(dotted, where)
    merged = apply(training, flat)
    try:
        parsed = parse(TrainingParams, merged, "training", env)
    except ConfigError as error:
        message = str(error)
        for dotted in sorted(flat, key=len, reverse=True):
            if f"training.{dotted}" in message:
                raise ConfigError(
                    message.replace(f"training.{dotted}", f"{where}.{dotted}", 1)
                ) from None
        raise
    return parsed, sorted(flat)
