"""Typed configuration: frozen dataclasses, named presets and ``--set key=value`` overrides.

Every generator (and task) declares one frozen dataclass whose fields all have defaults.
A preset is a mapping of field overrides. :func:`resolve_config` builds the final object
from ``Config`` defaults → preset → user overrides, parsing strings by the field's type and
rejecting unknown keys with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names the valid choices."""


def resolve_config(
    config_cls: type,
    presets: Mapping[str, Mapping[str, Any]],
    preset: str,
    overrides: Mapping[str, Any],
) -> Any:
    """Defaults of ``config_cls`` ← ``presets[preset]`` ← ``overrides`` (strings parsed)."""
    if preset not in presets:
        raise ConfigError(
            f"Unknown preset {preset!r} for {config_cls.__qualname__}; "
            f"choose one of: {', '.join(presets)}."
        )
    values: dict[str, Any] = {}
    for key, value in {**presets[preset], **overrides}.items():
        values[key] = value
    return build_config(config_cls, values)


def build_config(config_cls: type, values: Mapping[str, Any]) -> Any:
    """Instantiate ``config_cls`` from ``values``; strings are parsed by field type."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} for {config_cls.__qualname__}. "
            f"Valid keys: {', '.join(sorted(fields))}."
        )
    parsed = {k: parse_value(hints[k], v, key=k) for k, v in values.items()}
    try:
        return config_cls(**parsed)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"Invalid {config_cls.__qualname__}: {err}") from err


def parse_value(annotation: Any, value: Any, *, key: str) -> Any:
    """Convert ``value`` (often a CLI string) to ``annotation``; raise ConfigError if not."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return parse_value(arg, value, key=key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}={value!r}: " + "; ".join(errors))
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise ConfigError(f"{key}={value!r}: choose one of {', '.join(map(str, args))}")
    if origin is tuple:
        items = _split_sequence(value)
        inner = args[0] if args else str
        return tuple(parse_value(inner, item, key=key) for item in items)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: expected a number")
        try:
            number = float(value) if annotation is float else _to_int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={value!r}: expected {annotation.__name__}") from None
        return number
    if annotation is str:
        return str(value)
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    if isinstance(value, str):
        as_float = float(value)  # accepts "1e3"
        if not as_float.is_integer():
            raise ValueError(value)
        return int(as_float)
    return int(value)


def _split_sequence(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    text = str(value).strip()
    if text.startswith(("[", "(")):
        text = text[1:-1]
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["lr=1e-4", "steps=10"]`` → ``{"lr": "1e-4", "steps": "10"}``."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r} (e.g. --set steps=100)")
        result[key.strip()] = value.strip()
    return result


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-able dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(config_cls: type, values: Mapping[str, Any]) -> Any:
    """Inverse of :func:`config_to_dict`."""
    return build_config(config_cls, dict(values))


def config_hash(config: Any) -> str:
    """Short stable hash of a config's values (first 12 hex of sha256)."""
    text = json.dumps(config_to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
