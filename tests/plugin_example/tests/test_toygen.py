"""The example plugin passes usbench's generator conformance suite."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the plugin, uninstalled

from usbench_toygen import PixelGaussian  # noqa: E402

from usbench.testing import GeneratorConformance  # noqa: E402


class TestPixelGaussianConformance(GeneratorConformance):
    generator_class = PixelGaussian
    preset = "smoke"
