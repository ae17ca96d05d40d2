"""Selectors → plugins: one resolution path for generators, metrics, datasets and tasks.

``resolve("metrics", "fid:layer=pool2")`` looks the name up (aliases first, see
:mod:`usbench.catalog`), builds the plugin's ``Config`` from its preset and the selector's
values (:func:`usbench.config.plugin_config`) and returns a :class:`PluginSpec`, whose
:attr:`~PluginSpec.selector` is the canonical text stored with every score: the registry
name plus the settings that differ from the Config's defaults, in field order (fields a
Config lists in ``not_identity``, such as a batch size, are left out).

The key ``preset`` is reserved: ``-g sinddm:preset=paper`` picks the generator's preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from usbench import catalog
from usbench.config import ConfigError, changed_values, plugin_config
from usbench.registry import PluginLoadError, registry
from usbench.selectors import Selector, format_selector, parse_selector, parse_selector_list

PRESET_KEY = "preset"


@dataclass(frozen=True)
class PluginSpec:
    """A plugin chosen by a selector.

    kind: ``generators``, ``metrics``, ``datasets`` or ``tasks``.
    name: the registry name (aliases resolved).
    plugin: the plugin class.
    config: an instance of ``plugin.Config``, or ``None`` for a plugin without settings.
    preset: the preset the config started from (``None``: the Config's defaults).
    error: why the plugin failed to import (``plugin`` is then ``None`` and :meth:`build`
        raises it), so a list can report a broken plugin by name and go on.
    """

    kind: str
    name: str
    plugin: type | None
    config: Any
    preset: str | None = None
    error: str | None = None

    @property
    def selector(self) -> str:
        """Canonical selector: the name and every setting that changes the result."""
        if self.config is None:
            return self.name
        exempt = set(getattr(type(self.config), "not_identity", ()))
        changed = {k: v for k, v in changed_values(self.config).items() if k not in exempt}
        return format_selector(self.name, changed)

    def build(self) -> Any:
        """An instance of the plugin with this config."""
        if self.plugin is None:
            raise PluginLoadError(self.error or f"{self.name} failed to load")
        return self.plugin() if self.config is None else self.plugin(self.config)


def resolve(
    kind: str,
    selector: str | Selector,
    *,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    positional: bool = False,
) -> PluginSpec:
    """The plugin ``selector`` names, configured.

    ``preset`` is the starting preset when the selector names none; ``overrides`` (e.g.
    ``--set`` values) apply after the selector's own values. ``positional`` lets the
    plugin take a bare value (``folder:PATH``) as its ``positional`` field.
    """
    if isinstance(selector, str):
        selector = parse_selector(selector, positional=positional)
    name, values = expand_alias(kind, selector)
    plugin = registry(kind).get(name)
    if selector.positional is not None:
        key = getattr(plugin, "positional", None)
        if key is None:
            raise ConfigError(f"{kind[:-1]} {name!r} takes no value after ':' but key=value")
        values = {key: selector.positional, **values}
    values.update(overrides or {})
    chosen = values.pop(PRESET_KEY, None) or preset
    presets = getattr(plugin, "presets", None) or {}
    if chosen is not None and not presets:
        chosen = None  # a plugin without presets ignores the run-wide --preset
    try:
        config = plugin_config(plugin, chosen, values)
    except ConfigError as err:
        raise ConfigError(f"{kind[:-1]} {name!r}: {err}") from err
    return PluginSpec(kind, name, plugin, config, chosen)


def resolve_list(kind: str, text: str | None) -> list[PluginSpec]:
    """A comma-separated list of selectors (``@suite`` expands); duplicates dropped."""
    specs: dict[str, PluginSpec] = {}
    for item in parse_selector_list(text or ""):
        if item.name.startswith("@"):
            inner = [parse_selector(s) for s in catalog.suite(item.name[1:])]
            if item.values:
                raise ConfigError(f"a suite takes no settings: {item}")
        else:
            inner = [item]
        for selector in inner:
            try:
                spec = resolve(kind, selector)
            except PluginLoadError as err:  # reported by name when built; the rest go on
                spec = PluginSpec(kind, selector.name, None, None, error=str(err))
            specs.setdefault(spec.selector, spec)
    return list(specs.values())


def expand_alias(kind: str, selector: Selector) -> tuple[str, dict[str, str]]:
    """``(registry name, values)`` of ``selector``, an alias replaced by what it means."""
    target = catalog.ALIASES.get(kind, {}).get(selector.name)
    if target is None:
        return selector.name, selector.options
    base = parse_selector(target)
    return base.name, {**base.options, **selector.options}


def canonical_name(kind: str, stored: str) -> str:
    """The canonical selector for a name found in a store (old alias names included).

    Resolving needs the plugin importable; a name that no longer resolves is kept as is.
    """
    try:
        return resolve(kind, stored).selector
    except (ConfigError, KeyError, ImportError):
        return stored
