"""Conformance suites for the four plugin kinds — run them in your own package's tests.

One pytest base class per kind checks the contract of :mod:`usbench.protocols`::

    from usbench.testing import DatasetConformance, GeneratorConformance, MetricConformance

    class TestMyGAN(GeneratorConformance):
        generator_name = "mygan"      # or generator_class = MyGAN; preset, overrides

    class TestMyMetric(MetricConformance):
        metric_name = "mymetric"      # or metric_class = MyMetric; selector settings

    class TestMyData(DatasetConformance):
        dataset_name = "mydata"       # root = ..., options = {...}

(:class:`TaskConformance` likewise, ``task_name``.) Each class reads its plugin from a
class-scoped fixture ``case``, built from those attributes. usbench's own tests override
``case`` with ``params=registered(kind)``, so every registered entry point of a kind — a
newly installed plugin included — runs the suite without being listed by hand.
"""

from __future__ import annotations

from usbench.testing.data import CopyGenerator, tiny_dataset, tiny_eval_inputs
from usbench.testing.datasets import DatasetCase, DatasetConformance
from usbench.testing.generators import GeneratorCase, GeneratorConformance
from usbench.testing.metrics import MetricCase, MetricConformance
from usbench.testing.tasks import TaskCase, TaskConformance


def registered(kind: str) -> list[str]:
    """Every name registered for ``kind`` (entry points and runtime registrations)."""
    from usbench.registry import registry

    return list(registry(kind).names())


__all__ = [
    "CopyGenerator",
    "DatasetCase",
    "DatasetConformance",
    "GeneratorCase",
    "GeneratorConformance",
    "MetricCase",
    "MetricConformance",
    "TaskCase",
    "TaskConformance",
    "registered",
    "tiny_dataset",
    "tiny_eval_inputs",
]
