"""Typed configs: presets, --set parsing, unknown keys, hashing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from usbench.config import (
    ConfigError,
    build_config,
    config_from_dict,
    config_hash,
    config_to_dict,
    parse_assignments,
    resolve_config,
)


@dataclass(frozen=True)
class Toy:
    steps: int = 10
    lr: float = 1e-3
    schedule: Literal["linear", "cosine"] = "linear"
    mults: tuple[int, ...] = (1, 2)
    flag: bool = False
    path: str | None = None


PRESETS = {"smoke": {"steps": 2}, "paper": {"steps": 1000, "schedule": "cosine"}}


def test_preset_then_overrides_parsed_by_type():
    cfg = resolve_config(Toy, PRESETS, "paper", {"lr": "1e-4", "mults": "1,2,4", "flag": "yes"})
    assert cfg == Toy(steps=1000, lr=1e-4, schedule="cosine", mults=(1, 2, 4), flag=True)


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError, match=r"Unknown setting 'stepz'.*Valid keys: steps, lr"):
        resolve_config(Toy, PRESETS, "smoke", {"stepz": "3"})


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("steps", "ten", "expected int"),
        ("steps", "2.5", "expected int"),
        ("schedule", "quadratic", "choose one of linear, cosine"),
        ("flag", "maybe", "true or false"),
    ],
)
def test_bad_values_are_refused(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build_config(Toy, {key: value})


def test_unknown_preset():
    with pytest.raises(ConfigError, match="choose one of: smoke, paper"):
        resolve_config(Toy, PRESETS, "fast", {})


def test_optional_and_roundtrip():
    cfg = build_config(Toy, {"path": "none", "steps": "1e3"})
    assert cfg.path is None and cfg.steps == 1000
    again = config_from_dict(Toy, config_to_dict(cfg))
    assert again == cfg and config_hash(again) == config_hash(cfg)
    assert config_hash(cfg) != config_hash(Toy())


def test_parse_assignments():
    assert parse_assignments(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["novalue"])
