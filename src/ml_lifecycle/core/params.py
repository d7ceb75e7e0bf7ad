"""Typed stage parameters: each `params:<stage>` block validated once into a frozen model.

A stage declares its block as a `Params` model (in its package's `params.py`); every key the
base YAML sets is a required field, so deleting it from conf/ fails the run instead of silently
falling back to a number in code. `parse` turns a plain dict (a test, a notebook) into the model
and is the identity for a model already parsed; a mistake becomes one `ConfigError` sentence
naming the full dotted key.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ml_lifecycle.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# Blocks whose YAML lives in another stage's file (conf/<env>/parameters_<file>.yml).
FILES = {
    "iterate": "monitoring",
    "data_quality_overrides": "data_quality",
    "training_tuned": "tune",
}


class Params(BaseModel):
    """A parameter block: unknown keys are errors, and a parsed block cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def source_file(key: str, env: str | None = None) -> str:
    """Returns the file(s) setting the block `key`: conf/base/parameters_<stage>.yml [, env's]."""
    top = key.split(".", 1)[0].split("[", 1)[0]
    name = f"parameters_{FILES.get(top, top)}.yml"
    base = f"conf/base/{name}"
    return f"{base} or conf/{env}/{name}" if env and env != "base" else base


def parse(model: type[M], value: Any, key: str, env: str | None = None) -> M:
    """Returns `value` as `model` (itself when it already is one); raises a one-sentence error.

    `key` is the block's dotted name (`training`, `inference.cleaning`); `env`, when known, is
    named in the hint of a missing key.
    """
    if isinstance(value, model):
        return value
    if value is None or not isinstance(value, Mapping | BaseModel):
        raise ConfigError(
            f"{key} must be a mapping of parameters, not {value!r}; see {source_file(key, env)}."
        )
    if isinstance(value, BaseModel):
        value = value.model_dump()
    try:
        return model.model_validate(dict(value))
    except ValidationError as error:
        raise ConfigError(sentence(model, value, key, error, env)) from None


def _dotted(key: str, loc: list[Any]) -> str:
    out = key
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _real_loc(value: Any, loc: tuple[Any, ...], kind: str) -> list[Any]:
    """Returns `loc` without pydantic's union-member tags: only the keys present in `value`."""
    out, current = [], value
    for i, part in enumerate(loc):
        if isinstance(current, Mapping) and part in current:
            out.append(part)
            current = current[part]
        elif isinstance(current, list | tuple) and isinstance(part, int) and part < len(current):
            out.append(part)
            current = current[part]
        elif kind == "missing" and i == len(loc) - 1:
            out.append(part)
    return out


def _fields(annotation: Any) -> list[str]:
    """Returns the field names of the models an annotation (possibly a union) can be."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _fields(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [f for arg in typing.get_args(annotation) for f in _fields(arg)]
    return []


def _annotation_at(model: type[BaseModel], loc: list[Any]) -> Any:
    """Returns the annotation that holds the last key of `loc` (best effort, else None)."""
    annotation: Any = model
    for part in loc:
        annotation = _child(annotation, part)
        if annotation is None:
            return None
    return annotation


def _child(annotation: Any, part: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part)
        return None if field is None else field.annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _child(args[0], part)
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _child(arg, part)
            if found is not None:
                return found
    return None


def _priority(error: Any) -> int:
    """An unknown key first (a typo explains the missing key beside it); a union's members:
    the literal's error only for a string (2 for `threshold: 2` is out of range, not a typo)."""
    if error["type"] == "extra_forbidden":
        return 0
    if error["type"] == "literal_error" and not isinstance(error.get("input"), str):
        return 2
    return 1


def sentence(  # noqa: PLR0911 - one sentence per kind of mistake
    model: type[BaseModel],
    value: Any,
    key: str,
    error: ValidationError,
    env: str | None = None,
) -> str:
    """Returns the first problem of `error` as one sentence naming the full dotted key."""
    first = min(error.errors(include_url=False), key=_priority)
    kind, ctx = first["type"], first.get("ctx") or {}
    loc = _real_loc(value, tuple(first["loc"]), kind)
    dotted = _dotted(key, loc)
    if kind == "missing":
        return f"missing key {dotted} in {source_file(key, env)}."
    if kind == "extra_forbidden":
        holder = _annotation_at(model, loc[:-1])
        known = _fields(holder) if holder is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f", did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}."
        return f"unknown key {dotted}{hint}" if known else f"unknown key {dotted}."
    got = first.get("input")
    if kind == "literal_error":
        return f"{dotted} must be one of {ctx.get('expected')}, not {got!r}."
    if kind == "union_tag_invalid":
        field = str(ctx.get("discriminator", "")).strip("'")
        return (
            f"{dotted}.{field} must be one of {ctx.get('expected_tags')}, not {ctx.get('tag')!r}."
        )
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "")).strip("'")
        return f"missing key {dotted}.{field} in {source_file(key, env)}."
    message = str(first["msg"])
    if kind == "value_error":
        return f"{dotted}: {message.removeprefix('Value error, ').rstrip('.')}."
    message = message.replace("Input should be", "must be").rstrip(".")
    return f"{dotted} {message}, not {got!r}."
