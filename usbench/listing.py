"""What ``usbench list`` prints: registered plugins, aliases, suites and a plugin's settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from usbench import catalog
from usbench.config import config_to_dict, field_docs, flatten, valid_keys
from usbench.plugins import expand_alias
from usbench.registry import registry
from usbench.selectors import Selector


def list_kind(kind: str) -> Iterator[str]:
    """One line per registered plugin (imports none), then aliases and suites."""
    reg = registry(kind)
    for name in reg.names():
        yield f"{name:<20} {reg.target(name):<48} ({reg.origin(name)})"
    aliases = catalog.ALIASES.get(kind, {})
    if aliases:
        yield ""
        yield "aliases (old names, kept working):"
        for alias, target in aliases.items():
            yield f"  {alias:<20} = {target}"
    if kind == "metrics":
        yield ""
        yield "suites (--metrics @NAME):"
        for suite in (*catalog.SUITES, "all"):
            members = catalog.suite(suite)
            shown = ", ".join(members) if suite != "all" else f"{len(members)} selectors"
            yield f"  @{suite:<19} {shown}"
    yield ""
    yield f"settings of one: usbench list {kind} NAME"


def describe_plugin(kind: str, name: str) -> Iterator[str]:
    """A plugin's docstring head, its settings (key, type, default, doc) and presets."""
    base, values = expand_alias(kind, Selector(name))
    plugin = registry(kind).get(base)
    doc = (plugin.__doc__ or "").strip().splitlines()
    yield f"{base}: {doc[0] if doc else ''}"
    if values:
        yield f"  ({name} is an alias of {base} with {values})"
    config_cls = getattr(plugin, "Config", None)
    if config_cls is None:
        yield "  no settings"
        return
    defaults = flatten(config_cls, config_to_dict(config_cls()))
    docs = field_docs(config_cls)
    types = _field_types(config_cls)
    yield "  settings (NAME:key=value,...):"
    for key in valid_keys(config_cls):
        yield f"    {key:<26} {types.get(key, ''):<28} default {defaults.get(key)!r}"
        if key in docs:
            yield f"        {docs[key]}"
    presets = getattr(plugin, "presets", None) or {}
    if presets:
        yield f"  presets (preset=NAME): {', '.join(presets)}"


def _field_types(config_cls: type, prefix: str = "") -> dict[str, str]:
    import typing

    hints = typing.get_type_hints(config_cls)
    out: dict[str, str] = {}
    for f in dataclasses.fields(config_cls):
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            out.update(_field_types(hint, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = _type_name(hint)
    return out


def _type_name(hint: object) -> str:
    import typing

    if typing.get_origin(hint) is typing.Literal:
        return "|".join(map(str, typing.get_args(hint)))
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
