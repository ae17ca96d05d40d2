"""Typed configuration: frozen dataclasses, named presets and ``key=value`` overrides.

Every plugin (generator, metric, dataset, task) that has settings declares one frozen
dataclass ``Config`` whose fields all have defaults; a field whose type is itself such a
dataclass is a *section* (``train`` of every trained generator) and its fields are set
with dotted keys (``train.lr=1e-4``). A preset is a mapping of overrides (dotted keys or
nested mappings). :func:`plugin_config` builds any plugin's config from defaults → preset
→ user overrides, parsing strings by the field's type and rejecting unknown keys with the
list of valid ones.

A Config may declare ``renamed: ClassVar[Mapping[str, str]]`` (old key → new dotted key):
old command lines (``--set steps=500``) and configs saved before a rename still load.
The user-facing documentation of a field is its line ``name: text`` in the Config's
docstring (:func:`field_docs`). A numeric field's allowed range ends that line, in
brackets: ``[>= 1]``, ``[> 0]``, ``[<= 1]``, or an interval ``[0, 1]`` / ``[0, 1)`` /
``(0, 1]`` (a parenthesis excludes its end; ``inf`` is allowed). The shared builder checks
every given value against it (each item of a tuple; ``None`` passes) before anything runs
(:func:`field_ranges`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names the valid choices."""


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------
def plugin_config(plugin: type, preset: str | None, overrides: Mapping[str, Any]) -> Any:
    """The ``Config`` of ``plugin`` (a plugin class) for ``preset`` plus ``overrides``.

    A plugin without a ``Config`` returns ``None`` and refuses any override. ``preset``
    ``None`` means the plugin's ``default_preset`` (or the bare defaults if it has no
    presets). Raises :class:`ConfigError` naming the valid presets, keys or values.
    """
    config_cls = getattr(plugin, "Config", None)
    label = getattr(plugin, "name", "") or plugin.__name__
    if config_cls is None:
        if overrides:
            raise ConfigError(f"{label!r} has no settings; drop {', '.join(overrides)}.")
        return None
    presets = getattr(plugin, "presets", None) or {}
    if preset is None:
        preset = getattr(plugin, "default_preset", None)
    if preset is None:
        return build_config(config_cls, overrides)
    return resolve_config(config_cls, presets, preset, overrides, label=label)


def resolve_config(
    config_cls: type,
    presets: Mapping[str, Mapping[str, Any]],
    preset: str,
    overrides: Mapping[str, Any],
    *,
    label: str | None = None,
) -> Any:
    """Defaults of ``config_cls`` ← ``presets[preset]`` ← ``overrides`` (strings parsed)."""
    if preset not in presets:
        owner = label or config_cls.__qualname__
        choices = ", ".join(presets) or "(it has none)"
        raise ConfigError(f"Unknown preset {preset!r} for {owner}; choose one of: {choices}.")
    values = flatten(config_cls, presets[preset])
    values.update(flatten(config_cls, overrides))
    return build_config(config_cls, values)


def flatten(config_cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys for ``values`` (nested mappings of sections flattened, renames applied)."""
    flat: dict[str, Any] = {}
    sections = _sections(config_cls)
    for key, value in values.items():
        key = _renamed(config_cls).get(key, key)
        if key in sections and isinstance(value, Mapping):
            for sub_key, sub_value in flatten(sections[key], value).items():
                flat[f"{key}.{sub_key}"] = sub_value
        elif key in sections and dataclasses.is_dataclass(value):
            for sub_key, sub_value in flatten(sections[key], config_to_dict(value)).items():
                flat[f"{key}.{sub_key}"] = sub_value
        else:
            flat[key] = value
    return flat


def dotted(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A stored config dict (nested sections) as ``{"train.steps": 1000, ...}``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def build_config(config_cls: type, values: Mapping[str, Any]) -> Any:
    """Instantiate ``config_cls`` from ``values`` (dotted keys or nested mappings)."""
    values = flatten(config_cls, values)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    sections = _sections(config_cls)
    hints = typing.get_type_hints(config_cls)
    known = valid_keys(config_cls)
    unknown = [key for key in values if key not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown setting {', '.join(map(repr, unknown))} for {config_cls.__qualname__}."
            f"{hint} Valid keys: {', '.join(known)}."
        )
    nested: dict[str, dict[str, Any]] = {}
    plain: dict[str, Any] = {}
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if dot and head in sections:
            nested.setdefault(head, {})[rest] = value
        else:
            plain[key] = value
    parsed = {k: _parse_documented(config_cls, hints[k], v, k) for k, v in plain.items()}
    ranges = field_ranges(config_cls)
    for key, value in parsed.items():
        if key in ranges:
            ranges[key].check(key, value, field_docs(config_cls).get(key, ""))
    for name, section_cls in sections.items():
        if name in nested:
            base = config_to_dict(_default_of(fields[name]))
            try:
                parsed[name] = build_config(
                    section_cls, {**flatten(section_cls, base), **nested[name]}
                )
            except ConfigError as err:  # name the key as the user typed it: train.steps
                raise ConfigError(_dotted_message(str(err), name, section_cls)) from None
    try:
        return config_cls(**parsed)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"Invalid {config_cls.__qualname__}: {err}") from err


def _parse_documented(config_cls: type, annotation: Any, value: Any, key: str) -> Any:
    """:func:`parse_value`, its error completed with the field's documentation."""
    try:
        return parse_value(annotation, value, key=key)
    except ConfigError as err:
        doc = field_docs(config_cls).get(key)
        raise ConfigError(f"{err} ({key}: {doc})" if doc else str(err)) from None


def valid_keys(config_cls: type) -> list[str]:
    """Every settable key of ``config_cls``, sections' fields dotted (``train.lr``)."""
    keys: list[str] = []
    sections = _sections(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in sections:
            keys += [f"{f.name}.{k}" for k in valid_keys(sections[f.name])]
        else:
            keys.append(f.name)
    return keys


def field_docs(config_cls: type) -> dict[str, str]:
    """``{key: description}`` from the ``key: text`` lines of the Config's docstring.

    A description may continue on the following lines, indented deeper than its key; one
    line may document several keys (``n_depth, n_lines: scan-line grid size``). A subclass
    inherits the descriptions of its bases' docstrings.
    """
    docs: dict[str, str] = {}
    for cls in reversed([c for c in config_cls.__mro__ if dataclasses.is_dataclass(c)]):
        docs.update(_docstring_fields(cls.__doc__ or ""))
    for name, section_cls in _sections(config_cls).items():
        for sub_key, text in field_docs(section_cls).items():
            docs[f"{name}.{sub_key}"] = text
    return docs


_FIELD_LINE = re.compile(r"\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*:(?:\s+(.*))?$")


def _docstring_fields(doc: str) -> dict[str, str]:
    docs: dict[str, str] = {}
    keys: list[str] = []
    indent = 0
    for line in doc.splitlines():
        depth = len(line) - len(line.lstrip())
        match = _FIELD_LINE.match(line)
        if match and (not keys or depth <= indent):
            keys, indent = [k.strip() for k in match.group(1).split(",")], depth
            for key in keys:
                docs[key] = (match.group(2) or "").strip()
        elif keys and line.strip() and depth > indent:
            for key in keys:
                docs[key] = f"{docs[key]} {line.strip()}".strip()
        else:
            keys = []
    return docs


class FieldRange(NamedTuple):
    """The allowed values of a numeric field, read from its docstring line."""

    low: float
    high: float
    low_open: bool
    high_open: bool
    text: str

    def contains(self, number: float) -> bool:
        """Whether ``number`` lies in the range."""
        above = number > self.low if self.low_open else number >= self.low
        below = number < self.high if self.high_open else number <= self.high
        return above and below

    def check(self, key: str, value: Any, doc: str) -> None:
        """Raise :class:`ConfigError` unless ``value`` (a number, a tuple of numbers or
        ``None``) lies in the range."""
        items = value if isinstance(value, tuple) else (value,)
        numbers = [i for i in items if isinstance(i, (int, float)) and not isinstance(i, bool)]
        if not all(self.contains(number) for number in numbers):
            raise ConfigError(
                f"{key}={value!r} is out of range: it must be {self.text} ({key}: {doc})"
            )


_COMPARISON = re.compile(r"\[\s*(>=|>|<=|<)\s*([-+]?(?:inf|[0-9.]+(?:e[-+]?[0-9]+)?))\s*\]\.?$")
_INTERVAL = re.compile(
    r"([\[(])\s*([-+]?(?:inf|[0-9.]+(?:e[-+]?[0-9]+)?))\s*,"
    r"\s*([-+]?(?:inf|[0-9.]+(?:e[-+]?[0-9]+)?))\s*([\])])\.?$"
)


def field_ranges(config_cls: type) -> dict[str, FieldRange]:
    """``{key: range}`` of the fields whose docstring line ends with a range (see the module
    docstring), sections' keys dotted like :func:`field_docs`."""
    return {key: r for key, doc in field_docs(config_cls).items() if (r := parse_range(doc))}


def parse_range(doc: str) -> FieldRange | None:
    """The range that ends a field description (``[>= 1]``, ``(0, 1]``...), or ``None``."""
    text = doc.strip()
    if match := _COMPARISON.search(text):
        op, bound = match.group(1), float(match.group(2))
        shown = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}[op] + f" {match.group(2)}"
        if op.startswith(">"):
            return FieldRange(bound, math.inf, op == ">", False, shown)
        return FieldRange(-math.inf, bound, False, op == "<", shown)
    if match := _INTERVAL.search(text):
        opener, low, high, closer = match.groups()
        shown = f"in {opener}{low}, {high}{closer}"
        return FieldRange(float(low), float(high), opener == "(", closer == ")", shown)
    return None


def _dotted_message(message: str, section: str, section_cls: type) -> str:
    """A section's error with its keys written as the user types them (``train.steps``)."""
    for key in valid_keys(section_cls):
        message = re.sub(rf"(?<![\w.]){re.escape(key)}(?=[=:])", f"{section}.{key}", message)
    return message


def _sections(config_cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(config_cls)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(config_cls)
        if isinstance(hints[f.name], type) and dataclasses.is_dataclass(hints[f.name])
    }


def _renamed(config_cls: type) -> Mapping[str, str]:
    return getattr(config_cls, "renamed", None) or {}


def _default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


# --------------------------------------------------------------------------------------
# parsing values
# --------------------------------------------------------------------------------------
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
    """``["train.lr=1e-4", "train.steps=10"]`` → ``{"train.lr": "1e-4", "train.steps": "10"}``."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r} (e.g. --set train.steps=100)")
        result[key.strip()] = value.strip()
    return result


# --------------------------------------------------------------------------------------
# serialising
# --------------------------------------------------------------------------------------
def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-able dict of a config dataclass (sections nested, tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(config_cls: type, values: Mapping[str, Any]) -> Any:
    """Inverse of :func:`config_to_dict`; also reads configs saved before a key was renamed."""
    return build_config(config_cls, dict(values))


def identity_dict(config: Any) -> dict[str, Any]:
    """:func:`config_to_dict` without the fields a Config or section lists in its
    ``omitted_at_default`` while they hold their defaults: settings added after runs were
    stored, so run keys and config hashes of those runs stay what they were."""
    values = config_to_dict(config)
    _drop_defaults(config, values)
    return values


def _drop_defaults(config: Any, values: dict[str, Any]) -> None:
    omitted = set(getattr(type(config), "omitted_at_default", ()))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            _drop_defaults(value, values[f.name])
        elif f.name in omitted and value == f.default:
            del values[f.name]


def config_hash(config: Any) -> str:
    """Short stable hash of a config's values (first 12 hex of sha256), see
    :func:`identity_dict`."""
    text = json.dumps(identity_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def changed_values(config: Any) -> dict[str, Any]:
    """Dotted keys whose values differ from the Config's defaults, in field order."""
    defaults = flatten(type(config), config_to_dict(type(config)()))
    current = flatten(type(config), config_to_dict(config))
    return {k: v for k, v in current.items() if defaults.get(k) != v}
