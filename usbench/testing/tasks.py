"""Conformance suite for task plugins.

Usage in a plugin's test module::

    from usbench.testing import TaskConformance

    class TestMyTask(TaskConformance):
        task_name = "mytask"              # or task_class = MyTask
        overrides = {"epochs": "1"}       # on top of the smoke preset

The suite builds every preset, checks that :meth:`~usbench.protocols.Task.variant` is
JSON-able and stable, and runs the ``smoke`` preset on :func:`~usbench.testing.tiny_dataset`
with :class:`~usbench.testing.CopyGenerator` as the generator factory: every
:class:`~usbench.protocols.TaskScore` must be finite, with a metric and group name,
``n > 0``, and the ``(metric, group)`` pairs unique. A task that plans its generator
fits (:meth:`~usbench.protocols.Task.fit_plan`) must plan exactly the fits that run asks
for: same tags, same training images, same order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from usbench.data.imageset import ImageSet
from usbench.protocols import Task, TaskScore
from usbench.registry import registry
from usbench.testing.data import CopyGenerator, tiny_dataset


@dataclass(frozen=True)
class TaskCase:
    """One task under test: its class and ``--task-set``-style overrides of ``smoke``."""

    plugin: type[Task]
    overrides: Mapping[str, str] = field(default_factory=dict)


class TaskConformance:
    """Pytest base class; see the module docstring."""

    task_name: ClassVar[str | None] = None
    task_class: ClassVar[type[Task] | None] = None
    overrides: ClassVar[dict[str, str]] = {}

    @classmethod
    def make_dataset(cls) -> ImageSet:
        """The real data of the smoke run: 12 toy images, 2 classes, 12 patients, with
        label maps (for tasks that segment)."""
        return tiny_dataset(image_size=16, n=12, masks=True)

    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> TaskCase:
        """The task under test (override with ``params=`` to run several)."""
        plugin = cls.task_class or registry("tasks").get(cls.task_name or "")
        return TaskCase(plugin, cls.overrides)

    @pytest.fixture(scope="class")
    @classmethod
    def smoke_run(cls, case: TaskCase) -> tuple[list[TaskScore], list[CopyGenerator]]:
        """The smoke run's scores and the generators it asked for, in order."""
        task = _build(case.plugin, "smoke", case.overrides)
        fits: list[CopyGenerator] = []

        def train_generator(train: ImageSet, tag: str) -> CopyGenerator:
            fits.append(CopyGenerator(train, tag))
            return fits[-1]

        train_generator.capabilities = CopyGenerator.capabilities
        return task.run(cls.make_dataset(), train_generator, seed=0), fits

    @pytest.fixture(scope="class")
    @classmethod
    def scores(cls, smoke_run) -> list[TaskScore]:
        return smoke_run[0]

    def test_presets_build(self, case: TaskCase) -> None:
        assert case.plugin.name, "a task needs a registry name"
        presets = getattr(case.plugin, "presets", {}) or {}
        assert "smoke" in presets, "a task needs a smoke preset for tests"
        for preset in presets:
            _build(case.plugin, preset, {})

    def test_variant_is_stable_json(self, case: TaskCase) -> None:
        first = _build(case.plugin, "smoke", case.overrides).variant()
        second = _build(case.plugin, "smoke", case.overrides).variant()
        assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)

    def test_smoke_run_scores(self, scores: list[TaskScore]) -> None:
        assert scores, "a task returns at least one score"
        for score in scores:
            assert score.metric and score.group
            assert math.isfinite(score.value) and math.isfinite(score.spread)
            assert score.n > 0 and isinstance(score.higher_is_better, bool)
            json.dumps(score.details)
        keys = [(s.metric, s.group) for s in scores]
        assert len(keys) == len(set(keys)), "each (metric, group) once"

    def test_fit_plan_is_what_run_asks_for(self, case: TaskCase, smoke_run) -> None:
        data = self.make_dataset()
        task = _build(case.plugin, "smoke", case.overrides)
        plan = task.fit_plan(data, CopyGenerator.capabilities, seed=0)
        if plan is None:
            pytest.skip(f"{case.plugin.name} plans no fits: they happen inside run")
        asked = [(g.tag, g.train.names) for g in smoke_run[1]]
        assert [(u.tag, data.subset(u.indices).names) for u in plan] == asked
        assert len({u.tag for u in plan}) == len(plan), "tags are unique in a plan"


def _build(plugin: type[Task], preset: str, overrides: Mapping[str, str]) -> Task:
    from usbench.config import plugin_config

    if getattr(plugin, "Config", None) is None:
        return plugin()
    return plugin(plugin_config(plugin, preset, dict(overrides)))
