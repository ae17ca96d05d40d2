"""The example plugins pass usbench's conformance suites (generator, metric, dataset)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the plugin, uninstalled

from usbench_toygen import PixelGaussian  # noqa: E402
from usbench_toygen.brightness import BrightnessGap  # noqa: E402
from usbench_toygen.stripes import Stripes  # noqa: E402

from usbench.testing import (  # noqa: E402
    DatasetConformance,
    GeneratorConformance,
    MetricConformance,
)


class TestPixelGaussianConformance(GeneratorConformance):
    generator_class = PixelGaussian
    preset = "smoke"


class TestBrightnessGapConformance(MetricConformance):
    metric_class = BrightnessGap


class TestStripesConformance(DatasetConformance):
    dataset_class = Stripes
    options = {"n_per_class": "2"}
