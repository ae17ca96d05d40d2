"""Documented ranges of Config fields: parsed from the docstring, checked by the shared
builder, declared for every numeric field of every registered plugin."""

from __future__ import annotations

import dataclasses
import math

import pytest

from usbench.config import (
    ConfigError,
    build_config,
    config_to_dict,
    field_ranges,
    flatten,
    parse_range,
    plugin_config,
    valid_keys,
)
from usbench.registry import KINDS, registry


@pytest.mark.parametrize(
    ("doc", "inside", "outside"),
    [
        ("images per step [>= 1].", [1, 10**9], [0, -1, 0.5]),
        ("learning rate [> 0]", [1e-9, 3.0], [0, -1e-9]),
        ("a quantile [0, 1].", [0, 0.5, 1], [-0.01, 1.01]),
        ("a decay [0, 1).", [0, 0.9999], [1, 1.5]),
        ("a share (0, 1]", [1e-6, 1], [0, 1.1]),
        ("an exponent [-inf, 3]", [-1e30, 3], [3.5]),
        ("at most [<= 2]", [-5, 2], [2.1]),
    ],
)
def test_ranges_are_read_from_the_end_of_the_doc(doc, inside, outside):
    rng = parse_range(doc)
    assert rng is not None
    assert all(rng.contains(v) for v in inside) and not any(rng.contains(v) for v in outside)


@pytest.mark.parametrize("doc", ["(β1, β2)", "ends of the schedule (px).", "in [a, b]", ""])
def test_text_that_is_not_a_range_is_ignored(doc):
    assert parse_range(doc) is None


@dataclasses.dataclass(frozen=True)
class _Section:
    """A section.

    steps: optimizer steps [>= 1].
    betas: two decays [0, 1).
    """

    steps: int = 3
    betas: tuple[float, ...] = (0.9, 0.99)


@dataclasses.dataclass(frozen=True)
class _Config:
    """A plugin's settings.

    fraction, share: two shares (0, 1].
    clip: a norm, None for none [>= 0].
    train: the section.
    """

    fraction: float = 0.5
    share: float = 1.0
    clip: float | None = None
    train: _Section = _Section()


def test_the_builder_checks_every_given_value_and_names_the_key():
    assert build_config(_Config, {"fraction": "1", "clip": "none", "train.steps": "1"}).clip is None
    with pytest.raises(ConfigError, match=r"share=0\.0 is out of range: it must be in \(0, 1\]"):
        build_config(_Config, {"share": "0"})
    with pytest.raises(ConfigError, match=r"clip=-1\.0 is out of range: it must be ≥ 0"):
        build_config(_Config, {"clip": "-1"})
    with pytest.raises(ConfigError, match=r"train\.steps=0 is out of range: .*\(train\.steps: "):
        build_config(_Config, {"train": {"steps": 0}})
    with pytest.raises(ConfigError, match=r"train\.betas=\(0\.9, 1\.0\)"):
        build_config(_Config, {"train.betas": "0.9,1"})


def _plugins_with_config():
    for kind in KINDS:
        for name in registry(kind).names():
            plugin = registry(kind).get(name)
            if getattr(plugin, "Config", None) is not None:
                yield pytest.param(plugin, id=f"{kind}:{name}")


@pytest.mark.parametrize("plugin", list(_plugins_with_config()))
def test_every_numeric_field_has_a_range_that_defaults_and_presets_keep(plugin):
    config_cls = plugin.Config
    ranges = field_ranges(config_cls)
    defaults = flatten(config_cls, config_to_dict(config_cls()))
    for key in valid_keys(config_cls):
        values = defaults[key] if isinstance(defaults[key], list) else [defaults[key]]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers or _numeric_annotation(config_cls, key):
            assert key in ranges, f"{plugin.__name__}.Config field {key!r} documents no range"
            assert all(ranges[key].contains(v) for v in numbers if math.isfinite(v)), key
    for preset in getattr(plugin, "presets", None) or {}:
        plugin_config(plugin, preset, {})  # raises ConfigError if a preset leaves a range


def _numeric_annotation(config_cls: type, key: str) -> bool:
    import typing

    head, _, rest = key.partition(".")
    hints = typing.get_type_hints(config_cls)
    if rest:
        return _numeric_annotation(hints[head], rest)
    text = str(hints[key])
    return any(t in text for t in ("int", "float")) and "Literal" not in text
