"""Conformance suite for generator plugins.

Usage in a plugin's test module::

    from usbench.testing import GeneratorConformance

    class TestMyGAN(GeneratorConformance):
        generator_name = "mygan"          # or: generator_class = MyGAN
        preset = "smoke"
        overrides = {"steps": "3"}        # optional --set-style overrides

The suite fits the generator once per case on :func:`~usbench.testing.tiny_dataset` (or
the data returned by an overridden ``make_dataset``) and checks the contract of
:class:`usbench.protocols.Generator`: every preset builds, sample shape, dtype and range,
labels and sources, determinism per seed, different seeds give different images, the same
seed gives the same images whatever ``sample_batch_size`` is, and save → load reproduces
the samples bit for bit, and fitting again with ``resume`` in a finished fit's workdir
trains nothing and gives the same samples (a sweep's fit jobs hand their fits to the run
job that way), and a generator that lists fit parts gives that very fit when its parts are
fitted one by one, in any order (a sweep trains each part as a job of its own).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from usbench.data.imageset import ImageSet
from usbench.protocols import FitContext, Generator
from usbench.registry import registry
from usbench.testing.data import tiny_dataset

# Sampling runs the same network on batches of different sizes; CPU kernels may round
# differently per batch size, so samples agree to this tolerance, not bit for bit.
BATCH_INVARIANCE_ATOL = 1e-4


@dataclass(frozen=True)
class GeneratorCase:
    """One generator under test: its class, the preset and ``--set``-style overrides."""

    plugin: type[Generator]
    preset: str = "smoke"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    n_samples: int = 4

    @property
    def id(self) -> str:
        return self.plugin.name


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
        """The generator class named by ``generator_class`` or ``generator_name``."""
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
    def case(cls) -> GeneratorCase:
        """The generator under test (override with ``params=`` to run several)."""
        return GeneratorCase(cls.resolve_class(), cls.preset, cls.overrides, cls.n_samples)

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, case: GeneratorCase, tmp_path_factory) -> tuple[Generator, ImageSet, Path]:
        generator = case.plugin.from_preset(case.preset, case.overrides)
        data = cls.make_dataset(generator.config)
        workdir = tmp_path_factory.mktemp(f"fit-{case.plugin.name}")
        generator.fit(data, FitContext(workdir=workdir, seed=0, progress=False))
        return generator, data, workdir

    # -- the contract -------------------------------------------------------------------
    def test_declares_metadata(self, case: GeneratorCase) -> None:
        gen_cls = case.plugin
        assert gen_cls.name, "a generator needs a registry name"
        assert {"paper", "quick", "smoke"} <= set(gen_cls.presets)
        for preset in ("paper", "quick", "smoke"):
            gen_cls.from_preset(preset)  # every preset must build a valid Config

    def test_sample_shape_dtype_range(self, fitted, case: GeneratorCase) -> None:
        generator, data, _ = fitted
        batch = generator.sample(case.n_samples, seed=0)
        assert batch.images.shape[0] == case.n_samples
        assert batch.images.shape[1] == 1
        assert batch.images.dtype == torch.float32
        assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0
        if generator.capabilities.source_guided:
            assert batch.sources is not None
            assert all(name in data.names for name in batch.sources)

    def test_same_seed_same_samples(self, fitted, case: GeneratorCase) -> None:
        generator, _, _ = fitted
        a = generator.sample(case.n_samples, seed=3)
        b = generator.sample(case.n_samples, seed=3)
        assert torch.equal(a.images, b.images)

    def test_different_seeds_differ(self, fitted, case: GeneratorCase) -> None:
        generator, _, _ = fitted
        a = generator.sample(case.n_samples, seed=1)
        b = generator.sample(case.n_samples, seed=2)
        assert float((a.images - b.images).abs().mean()) > 1e-4

    def test_sample_batch_size_invariance(self, fitted, case: GeneratorCase) -> None:
        generator, _, _ = fitted
        fields = {f.name for f in dataclasses.fields(generator.config)}
        if "sample_batch_size" not in fields:
            pytest.skip(f"{case.id} has no sample_batch_size setting: nothing to vary")
        batches = []
        for size in (1, 3):
            clone = copy.copy(generator)  # shares the fitted weights
            clone.config = dataclasses.replace(generator.config, sample_batch_size=size)
            batches.append(clone.sample(case.n_samples, seed=7))
        torch.testing.assert_close(
            batches[0].images, batches[1].images, atol=BATCH_INVARIANCE_ATOL, rtol=0
        )
        assert batches[0].sources == batches[1].sources
        if batches[0].labels is not None:
            assert torch.equal(batches[0].labels, batches[1].labels)

    def test_labels_are_honoured(self, fitted, case: GeneratorCase) -> None:
        generator, data, _ = fitted
        if not generator.capabilities.class_conditional:
            pytest.skip("unconditional generator: no labels to honour")
        labels = torch.arange(case.n_samples) % len(data.class_names)
        batch = generator.sample(case.n_samples, seed=0, labels=labels)
        if batch.labels is not None:
            assert torch.equal(batch.labels, labels)

    def test_save_load_roundtrip(self, fitted, case: GeneratorCase, tmp_path) -> None:
        generator, _, _ = fitted
        generator.save(tmp_path / "saved")
        saved_files = {p.name for p in (tmp_path / "saved").iterdir()}
        assert {"config.json", "state.json", "weights.safetensors"} <= saved_files
        assert not any(name.endswith((".pkl", ".pt", ".pth", ".bin")) for name in saved_files)
        restored = type(generator).load(tmp_path / "saved")
        a = generator.sample(case.n_samples, seed=5)
        b = restored.sample(case.n_samples, seed=5)
        assert torch.equal(a.images, b.images)

    def test_refit_with_resume_loads_the_finished_fit(self, fitted, case: GeneratorCase) -> None:
        generator, data, workdir = fitted
        again = _refit_without_training(case, data, workdir)
        a = generator.sample(case.n_samples, seed=5)
        b = again.sample(case.n_samples, seed=5)
        assert torch.equal(a.images, b.images)

    def test_fit_parts_one_by_one_give_the_fit(self, fitted, case: GeneratorCase, tmp_path) -> None:
        generator, data, _ = fitted
        parts = generator.fit_parts(data)
        if parts is None:
            with pytest.raises(NotImplementedError):
                generator.fit_part(data, FitContext(workdir=tmp_path, progress=False), "any")
            return
        assert parts and len(set(parts)) == len(parts), f"fit parts must be unique: {parts}"
        for part in reversed(parts):  # any order: each part stands alone
            piece = case.plugin.from_preset(case.preset, case.overrides)
            piece.fit_part(data, FitContext(workdir=tmp_path, seed=0, progress=False), part)
        whole = _refit_without_training(case, data, tmp_path)
        a = generator.sample(case.n_samples, seed=5)
        b = whole.sample(case.n_samples, seed=5)
        assert torch.equal(a.images, b.images)
        with pytest.raises(ValueError, match=parts[0]):
            whole.fit_part(data, FitContext(workdir=tmp_path, progress=False), "no-such-part")


def _refit_without_training(case: GeneratorCase, data: ImageSet, workdir: Path) -> Generator:
    """A fresh generator fit with ``resume`` in ``workdir``, which must hold a finished fit:
    asserts that no file there is written again, and returns the generator."""
    before = _files(workdir)
    again = case.plugin.from_preset(case.preset, case.overrides)
    again.fit(data, FitContext(workdir=workdir, seed=0, resume=True, progress=False))
    assert _files(workdir) == before, "a finished fit must not train or checkpoint again"
    return again


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime in ns)`` of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
