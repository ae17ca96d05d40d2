"""The DDPM baseline: conformance, the forward process, learning, presets."""

from __future__ import annotations

import math

import torch

from usbench.generators.ddpm import DDPMGenerator, build_scheduler
from usbench.protocols import FitContext
from usbench.testing import GeneratorConformance, tiny_dataset


class TestConditionalDDPMConformance(GeneratorConformance):
    generator_name = "ddpm"
    preset = "smoke"
    overrides = {"class_conditional": "true"}


def test_forward_process_is_the_closed_form_marginal():
    config = DDPMGenerator.from_preset("smoke", {"timesteps": "50", "beta_schedule": "linear"})
    scheduler = build_scheduler(config.config)
    betas = torch.linspace(1e-4, 0.02, 50, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    x0, noise = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4)
    t = torch.tensor([0, 17, 49])
    expected = (
        alpha_bar[t].sqrt().view(-1, 1, 1, 1) * x0
        + (1 - alpha_bar[t]).sqrt().view(-1, 1, 1, 1) * noise
    )
    assert torch.allclose(scheduler.add_noise(x0, noise, t).double(), expected, atol=1e-6)


def test_cosine_schedule_matches_nichol_dhariwal():
    gen = DDPMGenerator.from_preset("smoke", {"timesteps": "100", "beta_schedule": "cosine"})
    alpha_bar = build_scheduler(gen.config).alphas_cumprod.double()
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 50, 90):
        assert abs(float(alpha_bar[t]) - f(t + 1) / f(0)) < 1e-5


def test_training_lowers_the_denoising_loss(tmp_path):
    gen = DDPMGenerator.from_preset(
        "smoke",
        {"steps": "60", "checkpoint_every": "60", "base_channels": "16", "learning_rate": "2e-3"},
    )
    gen.fit(tiny_dataset(image_size=16, n=8), FitContext(tmp_path, seed=0, progress=False))
    from usbench.training import read_loss_log

    losses = [loss for _, loss in read_loss_log(tmp_path, "ddpm")]
    assert len(losses) == 10
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3


def test_paper_preset_follows_seed_002():
    paper = DDPMGenerator.from_preset("paper").config
    assert (paper.train.batch_size, paper.train.lr, paper.timesteps) == (4, 1e-4, 2000)
    assert paper.beta_schedule == "cosine" and paper.image_size == 128
