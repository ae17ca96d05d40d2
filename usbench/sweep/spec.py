"""Sweep specs: a TOML grid over generators × datasets × presets × seeds × ``--set`` values.

Example (``leaderboards/sweep.toml`` is a full one)::

    name = "smoke-check"
    generators = ["ddpm", "sinddm:train.steps=50"]   # selectors, settings included
    datasets = ["lus-phantom:n_per_class=4"]
    presets = ["smoke"]                              # a selector's own preset= wins
    seeds = [0, 1]
    metrics = "ssim,psnr"                            # default: @all
    tasks = ""                                       # e.g. "classifier_gain"
    task_preset = "quick"
    split_fits = true                                # planned fits as jobs of their own
    image_size = 16                                  # optional, as `usbench run`
    n_samples = 4                                    # optional

    [set]            # --set values: a list is an axis of the grid, anything else is fixed
    "train.lr" = [1e-3, 5e-4]
    "train.steps" = 20

    [task_set]       # --task-set values (fixed)
    pretrained = "false"

    [data_roots]     # dataset name -> local copy (relative to the spec file)
    lus-mini = "../data/pocus-lus"

Each grid point is a :class:`usbench.sweep.units.Unit`. The spec is checked before
anything is submitted: unknown keys, unknown plugins and bad settings fail at once.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from usbench.config import ConfigError
from usbench.plugins import resolve
from usbench.sweep.units import Unit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class SweepSpec:
    """A grid of runs.

    name: the sweep's name: its folder under ``<store>/sweeps/`` (default: the file's stem).
    generators: generator selectors.
    datasets: dataset selectors.
    presets: generator presets (a selector's own ``preset=`` overrides them).
    seeds: seeds; every grid point runs once per seed.
    set: ``--set`` values; a list is an axis of the grid, a scalar is fixed.
    metrics: metric selector list (``None``: ``@all``).
    tasks: task selector list (``""``: none).
    task_preset: preset of every task's config.
    task_set: ``--task-set`` values (fixed).
    split_fits: run each planned generator fit as a job of its own before the run job:
        the fits a task plans (fold × share, one per source image of a single-image
        generator) and the parts of the run's own fit (one per source image of a
        single-image generator); ``false``: every fit happens inside the run job.
        (``split_tasks``, its earlier name, is still read.)
    image_size: side the data are loaded at (``None``: each generator's own).
    n_samples: images to generate per run (``None``: the harness default).
    data_roots: dataset name → local copy of its files.
    """

    name: str
    generators: tuple[str, ...]
    datasets: tuple[str, ...]
    presets: tuple[str, ...] = ("quick",)
    seeds: tuple[int, ...] = (0,)
    set: Mapping[str, Any] = field(default_factory=dict)
    metrics: str | None = None
    tasks: str = ""
    task_preset: str = "quick"
    task_set: Mapping[str, Any] = field(default_factory=dict)
    split_fits: bool = True
    image_size: int | None = None
    n_samples: int | None = None
    data_roots: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"sweep name {self.name!r}: use letters, digits, '.', '_' and '-' only "
                "(it names a folder under <store>/sweeps/)"
            )
        for axis in ("generators", "datasets", "presets", "seeds"):
            if not getattr(self, axis):
                raise ConfigError(f"sweep {self.name!r}: `{axis}` is empty; give at least one")

    def units(self) -> list[Unit]:
        """Every grid point, in the order generators × datasets × presets × seeds × set."""
        task_pairs = tuple((k, _text(v)) for k, v in sorted(self.task_set.items()))
        units = []
        for gen, data, preset, seed, pairs in itertools.product(
            self.generators, self.datasets, self.presets, self.seeds, _set_points(self.set)
        ):
            units.append(
                Unit(
                    generator=gen,
                    dataset=data,
                    preset=preset,
                    seed=int(seed),
                    overrides=pairs,
                    data_root=self.data_roots.get(_plugin_name(data)),
                    image_size=self.image_size,
                    n_samples=self.n_samples,
                    metrics=self.metrics,
                    tasks=self.tasks,
                    task_preset=self.task_preset,
                    task_overrides=task_pairs,
                )
            )
        return _unique(units)

    def check(self) -> list[Unit]:
        """:meth:`units`, each generator and dataset resolved so bad settings fail now."""
        units = self.units()
        for unit in units:
            resolve(
                "generators", unit.generator, preset=unit.preset, overrides=dict(unit.overrides)
            )
            resolve("datasets", unit.dataset, positional=True)
        return units


def load_spec(path: str | Path) -> SweepSpec:
    """Read a TOML sweep spec (see the module docstring); paths are relative to it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep spec at {path}; see `usbench sweep --help`")
    with path.open("rb") as handle:
        try:
            raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
    return spec_from_dict(raw, default_name=path.stem, base=path.parent)


def spec_from_dict(raw: Mapping[str, Any], *, default_name: str, base: Path) -> SweepSpec:
    """A :class:`SweepSpec` from parsed TOML; unknown keys are refused with the valid ones."""
    known = {f.name for f in fields(SweepSpec)}
    raw = {_RENAMED.get(k, k): v for k, v in raw.items()}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"sweep spec: unknown key(s) {unknown}; valid keys: {sorted(known)}")
    values = dict(raw)
    values.setdefault("name", default_name)
    for axis in ("generators", "datasets", "presets", "seeds"):
        if axis in values:
            values[axis] = tuple(_as_list(values[axis], axis))
    roots = values.get("data_roots", {})
    values["data_roots"] = {k: str((base / v).resolve()) for k, v in roots.items()}
    return SweepSpec(**values)


_RENAMED = {"split_tasks": "split_fits"}


def _set_points(settings: Mapping[str, Any]) -> list[tuple[tuple[str, str], ...]]:
    """The ``--set`` combinations: the product of every list-valued key."""
    keys = sorted(settings)
    axes = [[_text(v) for v in _as_list(settings[k], k)] for k in keys]
    return [tuple(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


def _as_list(value: Any, key: str) -> Sequence[Any]:
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(f"sweep spec: {key!r} is an empty list")
        return value
    return [value]


def _text(value: Any) -> str:
    """A TOML value as the text ``--set`` would carry (``true`` → ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plugin_name(selector: str) -> str:
    return selector.partition(":")[0].strip()


def _unique(units: list[Unit]) -> list[Unit]:
    seen: dict[str, Unit] = {}
    for unit in units:
        seen.setdefault(unit.unit_id, unit)
    return list(seen.values())
