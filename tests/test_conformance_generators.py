"""Every registered generator passes :class:`usbench.testing.GeneratorConformance`.

The suite is parametrised over the entry points of ``usbench.generators``, so a newly
registered generator runs it with its ``smoke`` preset as is. The built-ins get a few
test-only settings below: fewer steps (speed), and stand-ins for pretrained networks that
are not available offline (label embeddings for awdiff's BiomedCLIP, a tiny seeded
pipeline for sd15_hybrid's SD1.5).
"""

from __future__ import annotations

import pytest

from usbench.registry import registry
from usbench.testing import GeneratorCase, GeneratorConformance, registered

FAST = {
    "awdiff": {"text_encoder": "label-embedding"},
    "bmap_ddpm": {"probe": "convex", "class_conditional": "true"},
    "sinddm": {"steps": "3", "sources_per_class": "1", "coarsest_side": "8,8"},
    "fewddm": {
        "steps": "3",
        "images_per_model": "2",
        "sources_per_class": "2",
        "coarsest_side": "8,8",
    },
    "singan": {"iterations": "4", "sources_per_class": "1"},
}
N_SAMPLES = {"sd15_hybrid": 3}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sd15_tiny_base(tmp_path_factory) -> str:
    """A tiny seeded SD1.5-shaped pipeline (the real base model is not available offline)."""
    from _sd15_tiny import build_tiny_pipeline

    folder = tmp_path_factory.mktemp("sd15-tiny")
    build_tiny_pipeline(folder, seed=0)
    return str(folder)


class TestEveryGenerator(GeneratorConformance):
    @pytest.fixture(scope="class", params=registered("generators"))
    @classmethod
    def case(cls, request) -> GeneratorCase:
        name = request.param
        overrides = dict(FAST.get(name, {}))
        if name == "sd15_hybrid":
            overrides["base_model"] = request.getfixturevalue("sd15_tiny_base")
        plugin = registry("generators").get(name)
        return GeneratorCase(plugin, "smoke", overrides, N_SAMPLES.get(name, 4))
