"""Conformance suite for metric plugins.

Usage in a plugin's test module::

    from usbench.testing import MetricConformance

    class TestMyMetric(MetricConformance):
        metric_name = "mymetric:window=7"   # a selector; or metric_class = MyMetric

The suite scores :func:`~usbench.testing.tiny_eval_inputs` (8 toy images of 64 px) and
checks: metadata types, a stable JSON-able :meth:`~usbench.protocols.Metric.variant`, that
the canonical selector round-trips through :func:`usbench.plugins.resolve` (and every
alias of the metric resolves), ``value`` finite and inside ``value_range``, ``n > 0``,
``value`` the mean of ``per_sample`` when there is one value per image/pair (not for
set-vs-set statistics, whose ``per_sample`` is a per-image diagnostic), invariance to
the order of the generated images (``per_sample`` permuted along) and, for a Config with a
``batch_size``, to the batch size. Override :meth:`MetricConformance.build` to inject
networks (seeded random weights in tests); a metric that cannot run here is declared with
``expect_unavailable = True`` and must then raise :class:`~usbench.protocols.
MetricUnavailable` with a reason and a fix.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from usbench import catalog
from usbench.plugins import PluginSpec, resolve
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable
from usbench.registry import registry
from usbench.samples import SampleBatch
from usbench.selectors import parse_selector
from usbench.testing.data import tiny_eval_inputs

REL_TOL = 1e-6


@dataclass(frozen=True)
class MetricCase:
    """One metric under test.

    plugin: the metric class; config: its Config (``None`` for a metric without one).
    build: ``build(config) -> Metric`` (default: ``plugin(config)``), e.g. to inject a
    network. expect_unavailable: it cannot run here and must say why and how to fix it.
    """

    plugin: type[Metric]
    config: Any = None
    build: Callable[[Any], Metric] | None = None
    expect_unavailable: bool = False

    @classmethod
    def from_selector(cls, selector: str, **kwargs: Any) -> MetricCase:
        """The case of a registered metric chosen by ``selector`` (``fid:layer=pool2``)."""
        spec = resolve("metrics", selector)
        return cls(spec.plugin, spec.config, **kwargs)

    def make(self, config: Any = dataclasses.MISSING) -> Metric:
        """An instance with ``config`` (default: the case's)."""
        config = self.config if config is dataclasses.MISSING else config
        if self.build is not None:
            return self.build(config)
        return self.plugin() if config is None else self.plugin(config)

    def compute(self, inputs: EvalInputs, config: Any = dataclasses.MISSING) -> MetricResult:
        return self.make(config).compute(inputs)


def permuted(inputs: EvalInputs, order: torch.Tensor) -> EvalInputs:
    """``inputs`` with the generated images (and their labels and sources) in ``order``."""
    gen = inputs.generated
    labels = None if gen.labels is None else gen.labels[order]
    sources = None if gen.sources is None else tuple(gen.sources[int(i)] for i in order)
    batch = SampleBatch(gen.images[order], labels, sources)
    return dataclasses.replace(inputs, generated=batch)


def close(a: float, b: float) -> bool:
    """Equal to ``REL_TOL`` relative (absolute near zero)."""
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9)


class MetricConformance:
    """Pytest base class; see the module docstring."""

    metric_name: ClassVar[str | None] = None
    metric_class: ClassVar[type[Metric] | None] = None
    expect_unavailable: ClassVar[bool] = False

    @classmethod
    def build(cls, config: Any) -> Metric:
        """The metric with ``config``; override to inject networks."""
        case_cls = cls.metric_class or registry("metrics").get(cls._name())
        return case_cls() if config is None else case_cls(config)

    @classmethod
    def _name(cls) -> str:
        if cls.metric_name is None:
            raise TypeError("set metric_name or metric_class on the test class")
        return parse_selector(cls.metric_name).name

    @classmethod
    def make_inputs(cls) -> EvalInputs:
        """What the suite scores; override for metrics that need other data."""
        return tiny_eval_inputs()

    # -- fixtures ---------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls) -> MetricCase:
        """The metric under test (override with ``params=`` to run several)."""
        if cls.metric_name is not None:
            return MetricCase.from_selector(
                cls.metric_name, build=cls.build, expect_unavailable=cls.expect_unavailable
            )
        plugin = cls.metric_class
        config = None if plugin.Config is None else plugin.Config()
        return MetricCase(plugin, config, cls.build, cls.expect_unavailable)

    @pytest.fixture(scope="class")
    @classmethod
    def inputs(cls) -> EvalInputs:
        return cls.make_inputs()

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls, case: MetricCase, inputs: EvalInputs) -> MetricResult:
        if case.expect_unavailable:
            pytest.skip(f"{case.plugin.name} is unavailable here (see test_unavailable_path)")
        return case.compute(inputs)

    # -- identity -----------------------------------------------------------------------
    def test_declares_metadata(self, case: MetricCase) -> None:
        metric = case.make()
        assert case.plugin.name, "a metric needs a registry name"
        assert isinstance(metric.kind, MetricKind)
        assert isinstance(metric.higher_is_better, bool)
        assert isinstance(case.plugin.version, str) and case.plugin.version
        low, high = case.plugin.value_range
        assert low is None or high is None or low < high

    def test_variant_is_stable_json(self, case: MetricCase) -> None:
        first, second = case.make().variant(), case.make().variant()
        assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)

    def test_selector_round_trips(self, case: MetricCase) -> None:
        if case.plugin.name not in registry("metrics").names():
            pytest.skip(f"{case.plugin.name} is not registered: no selector to resolve")
        selector = PluginSpec("metrics", case.plugin.name, case.plugin, case.config).selector
        again = resolve("metrics", selector)
        assert again.selector == selector
        assert resolve("metrics", again.selector).config == again.config

    def test_aliases_resolve(self, case: MetricCase) -> None:
        for alias, target in catalog.ALIASES.get("metrics", {}).items():
            if parse_selector(target).name == case.plugin.name:
                assert resolve("metrics", alias).selector == resolve("metrics", target).selector

    # -- computation ----------------------------------------------------------------------
    def test_unavailable_path(self, case: MetricCase, inputs: EvalInputs) -> None:
        if not case.expect_unavailable:
            return  # the other tests compute it
        with pytest.raises(MetricUnavailable) as raised:
            case.compute(inputs)
        assert raised.value.reason.strip() and raised.value.fix.strip()

    def test_result_in_range(self, case: MetricCase, result: MetricResult) -> None:
        low, high = case.plugin.value_range
        assert math.isfinite(result.value) and math.isfinite(result.spread)
        assert (low is None or result.value >= low) and (high is None or result.value <= high)
        assert result.n > 0 and result.spread >= 0
        json.dumps(result.details)

    def test_per_sample_matches_value(self, case: MetricCase, result: MetricResult) -> None:
        if case.make().kind == MetricKind.SET_VS_SET:
            return  # a set statistic; per_sample, if any, is a per-image diagnostic
        if result.per_sample is None or len(result.per_sample) != result.n:
            return  # not one value per image or pair
        assert close(result.value, float(np.mean(result.per_sample)))

    def test_order_invariance(self, case, inputs, result) -> None:
        order = torch.randperm(len(inputs.generated), generator=torch.Generator().manual_seed(1))
        shuffled = case.compute(permuted(inputs, order))
        assert close(shuffled.value, result.value), (shuffled.value, result.value)
        if result.per_sample is not None and len(result.per_sample) == len(order):
            np.testing.assert_allclose(
                shuffled.per_sample, result.per_sample[order.numpy()], rtol=REL_TOL, atol=1e-9
            )

    def test_batch_size_invariance(self, case, inputs, result) -> None:
        if case.config is None or "batch_size" not in vars(case.config):
            return  # nothing to vary
        for size in (3,):
            other = case.compute(inputs, dataclasses.replace(case.config, batch_size=size))
            assert close(other.value, result.value), (size, other.value, result.value)
