"""SinGAN: pyramid rule, widths, shapes, reconstruction learning, resume inside a scale, API."""

from __future__ import annotations

import math
import os

import pytest
import torch
from _single_image_data import striped_images

from usbench.generators._lib.singan_model import (
    PatchNet,
    ScaleTrainer,
    SinGANGenerator,
    gradient_penalty,
    scale_width,
    singan_pyramid_sizes,
)
from usbench.generators.singan import SinGAN
from usbench.protocols import FitContext

os.environ["HF_HUB_OFFLINE"] = "1"

TINY = {"min_size": "12", "max_size": "16", "train.steps": "40", "train.lr_milestones": "40"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The test machine is shared; one intra-op thread is much faster there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pyramid_of_256_square_matches_official_rule():
    # N = ceil(log_.75(25/256)) + 1 = 10, one scale dropped above 250 px, image shrunk to
    # ceil(256·250/256) = 250, factor refitted to 0.1^(1/9); sides ceil(250·r^(9−i)).
    # (250·r^9 evaluates to 25.000000000000004, so the coarsest side is 26 as in the
    # official code.)
    sizes = singan_pyramid_sizes(256, 256, min_size=25, max_size=250, scale_factor=0.75)
    sides = [26, 33, 42, 54, 70, 90, 117, 150, 194, 250]
    assert sizes == tuple((s, s) for s in sides)


def test_pyramid_of_small_rectangle_by_hand():
    # 40×60, min 12, max 250: N = ceil(log_.75(12/40)) + 1 = 6, nothing dropped, so
    # stop = 6 and there are 7 scales (the official range(stop + 1)); factor (12/40)^(1/6);
    # heights ceil(40·r^k), widths ceil(60·r^k).
    r = (12 / 40) ** (1 / 6)
    sizes = singan_pyramid_sizes(40, 60, min_size=12, max_size=250, scale_factor=0.75)
    assert sizes == tuple(
        (math.ceil(40 * r ** (6 - i)), math.ceil(60 * r ** (6 - i))) for i in range(7)
    )
    assert sizes[0][0] in (12, 13) and sizes[-1] == (40, 60)


def test_width_doubles_every_four_scales_up_to_128():
    assert [scale_width(n, nfc=32, cap=128) for n in range(10)] == [32] * 4 + [64] * 4 + [128] * 2


def test_generator_keeps_size_and_discriminator_shrinks_by_receptive_field():
    torch.manual_seed(0)
    g = SinGANGenerator(width=8, layers=5, kernel=3)
    d = PatchNet(width=8, layers=5, kernel=3, out_channels=1)
    prev = torch.rand(1, 1, 20, 23)
    out = g(prev + 0.1 * torch.randn_like(prev), prev)
    assert out.shape == prev.shape
    assert d(prev).shape == (1, 1, 10, 13)
    # the generator adds a tanh residual: |out − prev| < 1 everywhere
    assert float((out - prev).abs().max().detach()) < 1.0


def test_gradient_penalty_is_zero_for_unit_gradient_critic():
    class Linear(torch.nn.Module):
        def forward(self, x):
            return x.sum()  # gradient 1 per pixel → per-pixel channel norm 1

    real, fake = torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5)
    assert float(gradient_penalty(Linear(), real, fake, 0.1, torch.Generator())) == 0.0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> SinGAN:
    gen = SinGAN.from_preset("smoke", TINY)
    gen.fit(
        striped_images((0, 1), size=16), FitContext(tmp_path_factory.mktemp("sg"), progress=False)
    )
    return gen


def test_reconstruction_approaches_source(fitted):
    finest = fitted.pyramids[0].scales[-1]
    coarsest = fitted.pyramids[0].scales[0]
    assert sum(coarsest.rec_losses[-5:]) / 5 < 0.4 * coarsest.rec_losses[0]
    assert sum(finest.rec_losses[-5:]) / 5 < 0.7 * finest.rec_losses[0]
    real = striped_images((0, 1), size=16).images[:1]
    err = float(((fitted.reconstruct(0) - real) ** 2).mean())
    assert err < float(((real - real.mean()) ** 2).mean())  # better than a flat image


def test_noise_amplitude_is_tenth_of_upsampled_rmse(fitted):
    scales = fitted.pyramids[0].scales
    assert scales[0].noise_amp == 1.0
    assert all(0 < s.noise_amp < 0.1 for s in scales[1:])


def test_samples_name_sources_and_are_deterministic(fitted):
    batch = fitted.sample(4, seed=3)
    assert batch.images.shape == (4, 1, 16, 16)
    assert batch.sources == ("img0", "img1", "img0", "img1")
    assert batch.labels.tolist() == [0, 1, 0, 1]
    assert torch.equal(fitted.sample(4, seed=3).images, batch.images)
    assert torch.equal(fitted.sample(2, seed=3).images, batch.images[:2])
    assert not torch.equal(batch.images[0], batch.images[2])


def test_labels_and_arbitrary_size(fitted):
    batch = fitted.sample(2, seed=0, labels=torch.tensor([1, 1]))
    assert batch.sources == ("img1", "img1")
    wide = SinGAN(SinGAN.Config(**{**fitted.config.__dict__, "scale_hw": (1.0, 2.0)}))
    wide.restore(fitted.state_meta(), fitted.state_tensors())
    assert wide.sample(1, seed=0).images.shape == (1, 1, 16, 32)


def test_save_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path)
    again = SinGAN.load(tmp_path)
    assert torch.equal(again.sample(3, seed=5).images, fitted.sample(3, seed=5).images)


class Killed(Exception):
    """Stands in for the process being killed."""


def test_resume_inside_a_scale_ends_bit_identical(tmp_path, monkeypatch):
    data = striped_images((0,), size=16)
    settings = {**TINY, "train.steps": "8", "train.lr_milestones": "5"}
    full = SinGAN.from_preset("smoke", settings)
    full.fit(data, FitContext(tmp_path / "full", seed=4, progress=False))
    n_scales = len(full.pyramids[0].scales)
    assert n_scales >= 2

    calls = []
    original = ScaleTrainer._generator_steps

    def counting(self, *args):
        calls.append(self.size)
        if kill_at is not None and len(calls) == kill_at:
            raise Killed
        return original(self, *args)

    monkeypatch.setattr(ScaleTrainer, "_generator_steps", counting)
    killed = {**settings, "train.checkpoint_every": "3"}
    kill_at = 8 + 7  # scale 1, iteration 7: its newest checkpoint is iteration 6
    with pytest.raises(Killed):
        SinGAN.from_preset("smoke", killed).fit(
            data, FitContext(tmp_path / "killed", seed=4, progress=False)
        )
    calls.clear()
    kill_at = None
    resumed = SinGAN.from_preset("smoke", killed)
    resumed.fit(data, FitContext(tmp_path / "killed", seed=4, resume=True, progress=False))
    sizes = [s.size for s in full.pyramids[0].scales]
    # scale 0 is loaded, scale 1 continues at iteration 6, the others train from the start
    assert calls == [sizes[1]] * 2 + [size for size in sizes[2:] for _ in range(8)]
    a, b = full.state_tensors(), resumed.state_tensors()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s.rec_losses for s in resumed.pyramids[0].scales] == [
        s.rec_losses for s in full.pyramids[0].scales
    ]


def test_old_keys_still_configure_training():
    config = SinGAN.from_preset(
        "smoke", {"iterations": "7", "lr_g": "1e-3", "beta1": "0.6", "lr_milestone": "5"}
    ).config
    assert config.train.steps == 7 and config.train.lr == 1e-3
    assert config.train.betas == (0.6, 0.999) and config.train.lr_milestones == (5,)
    paper = SinGAN.Config().train
    assert (paper.steps, paper.lr, paper.betas) == (2000, 5e-4, (0.5, 0.999))
    assert (paper.lr_milestones, paper.lr_gamma) == ((1600,), 0.1)
    assert SinGAN.data_image_size(SinGAN.Config()) == 256
