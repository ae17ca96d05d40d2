"""A task's synthetic draws are kept in the fit's folder and read back exactly, so a run
resumed mid-task does not sample them again."""

from __future__ import annotations

import pytest
import torch

from usbench.plugins import resolve
from usbench.protocols import FitContext
from usbench.task_draws import KeptDraws
from usbench.task_fits import DRAWS, TaskFitter, fit_workdir
from usbench.testing import tiny_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


def _refuse(*args, **kwargs):
    raise AssertionError("a kept draw must not be sampled again")


def _fitted(selector: str, workdir, *, masks: bool):
    data = tiny_dataset(image_size=16, n=6, masks=masks)
    generator = resolve("generators", selector, preset="smoke").build()
    generator.fit(data, FitContext(workdir=workdir, seed=0, progress=False))
    return generator, data


@pytest.fixture(scope="module")
def class_ddpm(tmp_path_factory):
    """A tiny class-conditional ddpm fit on toy images, and its data."""
    return _fitted(
        "ddpm:class_conditional=true,train.steps=2", tmp_path_factory.mktemp("fit"), masks=False
    )


@pytest.fixture(scope="module")
def label_map_ddpm(tmp_path_factory):
    """A tiny label-map ddpm fit on toy images with label maps, and its data."""
    selector = "ddpm:conditioning=label-map,train.steps=2"
    return _fitted(selector, tmp_path_factory.mktemp("fit"), masks=True)


def test_a_kept_draw_is_read_back_bit_for_bit_without_sampling(class_ddpm, tmp_path):
    generator, _ = class_ddpm
    kept = KeptDraws(generator, tmp_path / "draws")
    labels = torch.tensor([0, 1, 1])
    first = kept.sample(3, seed=4, labels=labels)
    assert torch.equal(first.images, generator.sample(3, seed=4, labels=labels).images)
    assert len(list((tmp_path / "draws").glob("*.safetensors"))) == 1

    again = KeptDraws(generator, tmp_path / "draws")
    again.__dict__["generator"] = type("NoSampling", (), {"sample": _refuse})()
    second = again.sample(3, seed=4, labels=labels)
    assert torch.equal(second.images, first.images) and torch.equal(second.labels, labels)

    kept.sample(3, seed=5, labels=labels)  # another seed, another draw
    kept.sample(3, seed=4, labels=torch.tensor([1, 1, 1]))  # other labels, another draw
    assert len(list((tmp_path / "draws").glob("*.safetensors"))) == 3


def test_label_map_draws_keep_their_sources_and_pairing(label_map_ddpm, tmp_path):
    generator, data = label_map_ddpm
    kept = KeptDraws(generator, tmp_path / "draws")
    sources = data.names[:4]
    first = kept.sample_from_maps(data.masks[:4], seed=1, sources=sources)
    fresh = generator.sample_from_maps(data.masks[:4], seed=1, sources=sources)
    assert torch.equal(first.images, fresh.images)
    again = KeptDraws(type("NoSampling", (), {"sample_from_maps": _refuse})(), tmp_path / "draws")
    second = again.sample_from_maps(data.masks[:4], seed=1, sources=sources)
    assert torch.equal(second.images, fresh.images)
    assert second.sources == sources and second.pairing == fresh.pairing == "label-map"
    other = kept.sample_from_maps(data.masks[1:5], seed=1, sources=sources)
    assert not torch.equal(other.images, first.images)  # other maps: a draw of its own


def test_task_fitter_keeps_draws_in_the_fit_folder(tmp_path):
    data = tiny_dataset(image_size=16, n=6)
    spec = resolve("generators", "ddpm:class_conditional=true,train.steps=2", preset="smoke")
    fitter = TaskFitter(spec, tmp_path, "classifier_gain", seed=0)
    generator = fitter(data, "fold0-min100")
    assert isinstance(generator, KeptDraws) and generator.capabilities.class_conditional
    generator.sample(2, seed=0, labels=torch.tensor([0, 1]))
    folder = fit_workdir(tmp_path, "classifier_gain", "fold0-min100", data) / DRAWS
    assert len(list(folder.glob("*.safetensors"))) == 1
