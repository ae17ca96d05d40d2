"""Conformance suite for generator plugins — run it in your own package's tests.

Usage in a plugin's test module::

    from usbench.testing import GeneratorConformance

    class TestMyGAN(GeneratorConformance):
        generator_name = "mygan"          # or: generator_class = MyGAN
        preset = "smoke"
        overrides = {"steps": "3"}        # optional --set-style overrides

The suite fits the generator once per test class on :func:`tiny_dataset` (or the data
returned by an overridden ``make_dataset``) and checks the contract of
:class:`usbench.protocols.Generator`: sample shape, dtype and range, labels and sources,
determinism per seed, different seeds give different images, and that save → load
reproduces the samples bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from usbench.data.imageset import ImageSet
from usbench.protocols import FitContext, Generator
from usbench.registry import registry


def tiny_dataset(image_size: int = 16, n: int = 8, num_classes: int = 2, seed: int = 0) -> ImageSet:
    """``n`` smooth, ultrasound-like toy images (bright band + speckle), ``num_classes``
    classes alternating, one patient per image. Deterministic by ``seed``."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, image_size, dtype=np.float32)[:, None]
    images = []
    for i in range(n):
        band = np.exp(-(((rows - 0.3 - 0.1 * (i % num_classes)) / 0.08) ** 2))
        speckle = rng.rayleigh(0.25, (image_size, image_size)).astype(np.float32)
        image = np.clip(0.2 + 0.6 * band * np.ones((1, image_size)) + 0.3 * speckle, 0, 1)
        images.append(image * np.exp(-1.5 * rows))
    return ImageSet(
        images=torch.from_numpy(np.stack(images)[:, None].astype(np.float32)),
        labels=torch.arange(n) % num_classes,
        class_names=tuple(f"class{c}" for c in range(num_classes)),
        patient_ids=tuple(f"patient{i}" for i in range(n)),
        names=tuple(f"tiny/{i:03d}" for i in range(n)),
        name="tiny",
    )


class GeneratorConformance:
    """Pytest base class; see the module docstring."""

    generator_name: ClassVar[str | None] = None
    generator_class: ClassVar[type[Generator] | None] = None
    preset: ClassVar[str] = "smoke"
    overrides: ClassVar[dict[str, Any]] = {}
    n_samples: ClassVar[int] = 4

    # -- hooks ------------------------------------------------------------------------
    @classmethod
    def resolve_class(cls) -> type[Generator]:
        if cls.generator_class is not None:
            return cls.generator_class
        if cls.generator_name is None:
            raise TypeError("set generator_name or generator_class on the test class")
        return registry("generators").get(cls.generator_name)

    @classmethod
    def make_dataset(cls, config: Any) -> ImageSet:
        """Training data for the suite; override for generators with special needs."""
        size = getattr(config, "image_size", 16)
        return tiny_dataset(image_size=size)

    # -- fixtures ---------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, tmp_path_factory) -> tuple[Generator, ImageSet, Path]:
        gen_cls = cls.resolve_class()
        generator = gen_cls.from_preset(cls.preset, cls.overrides)
        data = cls.make_dataset(generator.config)
        workdir = tmp_path_factory.mktemp(f"fit-{gen_cls.name}")
        generator.fit(data, FitContext(workdir=workdir, seed=0, progress=False))
        return generator, data, workdir

    # -- the contract -------------------------------------------------------------------
    def test_declares_metadata(self) -> None:
        gen_cls = self.resolve_class()
        assert gen_cls.name, "a generator needs a registry name"
        assert {"paper", "quick", "smoke"} <= set(gen_cls.presets)
        for preset in ("paper", "quick", "smoke"):
            gen_cls.from_preset(preset)  # every preset must build a valid Config

    def test_sample_shape_dtype_range(self, fitted) -> None:
        generator, data, _ = fitted
        batch = generator.sample(self.n_samples, seed=0)
        assert batch.images.shape[0] == self.n_samples
        assert batch.images.shape[1] == 1
        assert batch.images.dtype == torch.float32
        assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0
        if generator.capabilities.source_guided:
            assert batch.sources is not None
            assert all(name in data.names for name in batch.sources)

    def test_same_seed_same_samples(self, fitted) -> None:
        generator, _, _ = fitted
        a = generator.sample(self.n_samples, seed=3)
        b = generator.sample(self.n_samples, seed=3)
        assert torch.equal(a.images, b.images)

    def test_different_seeds_differ(self, fitted) -> None:
        generator, _, _ = fitted
        a = generator.sample(self.n_samples, seed=1)
        b = generator.sample(self.n_samples, seed=2)
        assert float((a.images - b.images).abs().mean()) > 1e-4

    def test_labels_are_honoured(self, fitted) -> None:
        generator, data, _ = fitted
        if not generator.capabilities.class_conditional:
            pytest.skip("unconditional generator: no labels to honour")
        labels = torch.arange(self.n_samples) % len(data.class_names)
        batch = generator.sample(self.n_samples, seed=0, labels=labels)
        if batch.labels is not None:
            assert torch.equal(batch.labels, labels)

    def test_save_load_roundtrip(self, fitted, tmp_path) -> None:
        generator, _, _ = fitted
        generator.save(tmp_path / "saved")
        saved_files = {p.name for p in (tmp_path / "saved").iterdir()}
        assert {"config.json", "state.json", "weights.safetensors"} <= saved_files
        assert not any(name.endswith((".pkl", ".pt", ".pth", ".bin")) for name in saved_files)
        restored = type(generator).load(tmp_path / "saved")
        a = generator.sample(self.n_samples, seed=5)
        b = restored.sample(self.n_samples, seed=5)
        assert torch.equal(a.images, b.images)
