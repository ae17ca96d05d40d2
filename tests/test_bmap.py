"""B-map DDPM: schedule, maps, forward marginal, posterior, and the generator."""

from __future__ import annotations

import math
import os

import torch
from diffusers import DDPMScheduler

from usbench.generators._lib.bmaps import (
    FAN_HALF_ANGLE_DEG,
    BMapDiffusion,
    b_maps,
    b_schedule,
    beta_schedule,
    fan_depth,
    linear_probe_depth,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _diffusers(steps: int) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=steps,
        beta_schedule="squaredcos_cap_v2",
        variance_type="fixed_small",
        clip_sample=True,
        prediction_type="epsilon",
    )


def test_cosine_betas_match_diffusers():
    ref = _diffusers(50).betas.to(torch.float64)
    torch.testing.assert_close(beta_schedule("cosine", 50), ref, rtol=1e-6, atol=1e-7)


def test_b_schedules_span_zero_to_one_and_increase():
    for kind in ("cosine", "sqrt", "linear"):
        b = b_schedule(kind, 100)
        assert b[0] < 1e-3 and float(b[-1]) > 0.9
        assert bool((b[1:] >= b[:-1]).all())
    assert abs(float(b_schedule("sqrt", 5)[1]) - 0.5) < 1e-12  # sqrt(1/4)
    last = (1 - math.cos((99.008 / 100.8) * math.pi / 2)) ** 2  # official cosine end point
    assert abs(float(b_schedule("cosine", 100)[-1]) - last) < 1e-12


def test_linear_maps_monotone_in_depth_and_floor():
    eps = 0.96
    maps = b_maps(b_schedule("sqrt", 20), linear_probe_depth(16, 8), eps)
    assert maps.shape == (20, 1, 16, 8)
    rows = maps[:, 0, :, 0]
    assert bool((rows[:, 1:] <= rows[:, :-1]).all())  # falls with depth
    torch.testing.assert_close(rows[:, 0], torch.ones(20, dtype=torch.float64))
    assert abs(float(rows[-1, -1]) - math.sqrt(eps)) < 1e-12  # floor at the last step
    assert bool((maps[1:] <= maps[:-1]).all())  # and with time
    torch.testing.assert_close(maps[:, :, :, 0], maps[:, :, :, 5])  # constant across width


def test_fan_geometry():
    h = w = 64
    depth = fan_depth(h, w)
    assert float(depth[0, w // 2]) == 0.0  # apex at top centre
    assert float(depth[0, 0]) == -1.0 and float(depth[h - 1, 0]) == -1.0  # corners outside
    # just inside / outside the half-angle on row 40
    y = 40
    edge = y * math.tan(math.radians(FAN_HALF_ANGLE_DEG))
    assert float(depth[y, int(w / 2 + edge - 1)]) > 0
    assert float(depth[y, int(w / 2 + edge + 2)]) == -1.0
    # depth is distance / radius along the centre line
    radius = 250 / 256 * w
    inner = torch.arange(63, dtype=torch.float64) / radius  # rows 0..62 lie within 62.5 px
    torch.testing.assert_close(depth[:63, w // 2], inner)
    assert float(depth[63, w // 2]) == -1.0  # beyond the fan radius
    maps = b_maps(b_schedule("cosine", 10), depth, 0.97)
    assert bool((maps[:, 0][:, depth < 0] == 1.0).all())  # B = 1 outside the fan
    centre = maps[-1, 0, :63, w // 2]
    assert bool((centre[1:] < centre[:-1]).all())  # radial monotone


def test_eps_one_reduces_to_ddpm_exactly():
    steps, shape = 30, (3, 1, 8, 8)
    diff = BMapDiffusion.build(steps=steps, height=8, width=8, floor_eps=1.0, probe="convex")
    tables = diff.tables()
    ref = _diffusers(steps)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(shape, generator=g) * 2 - 1
    noise = torch.randn(shape, generator=g)
    t = torch.tensor([0, 13, 29])
    torch.testing.assert_close(tables.q_sample(x0, t, noise), ref.add_noise(x0, noise, t))
    for step in (29, 10, 1, 0):
        xt, eps = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        z = torch.randn(shape, generator=torch.Generator().manual_seed(step))
        ours = tables.reverse_step(xt, step, eps, z)
        gen = torch.Generator().manual_seed(step)  # diffusers draws the same z from it
        theirs = ref.step(eps, step, xt, generator=gen).prev_sample
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_forward_marginal_matches_monte_carlo_chain():
    steps, n = 12, 20000
    diff = BMapDiffusion.build(
        steps=steps,
        height=6,
        width=1,
        alpha_schedule="cosine",
        b_kind="linear",
        floor_eps=0.5,
        probe="linear",
    )
    g = torch.Generator().manual_seed(1)
    x0 = torch.linspace(-1, 1, 6, dtype=torch.float64).view(1, 1, 6, 1)
    x = x0.expand(n, 1, 6, 1).clone()
    step = diff.step_signal()
    stop = 6
    for t in range(stop + 1):  # iterate q(x_t | x_{t-1}) one step at a time
        noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x = step[t].sqrt() * x + (1 - step[t]).sqrt() * noise
    sig = diff.signal[stop]
    mean_se = ((1 - sig) / n).sqrt()
    assert bool(((x.mean(0) - sig.sqrt() * x0[0]).abs() < 4.5 * mean_se).all())
    assert bool(((x.var(0) - (1 - sig)).abs() < 4.5 * (1 - sig) * math.sqrt(2 / n)).all())
    assert float(sig[0, -1, 0]) < float(sig[0, 0, 0])  # the bottom is noisier


def test_posterior_is_consistent_with_marginals():
    """Integrating the posterior over x_t must give back q(x_{t-1}|x_0) exactly."""
    diff = BMapDiffusion.build(steps=40, height=16, width=16, floor_eps=0.9, probe="convex")
    sig, prev = diff.signal, diff.signal_prev
    tables = diff.tables()
    c0 = tables.coef_x0.double()
    ct = tables.coef_xt.double()
    torch.testing.assert_close(c0 + ct * sig.sqrt(), prev.sqrt(), rtol=1e-5, atol=1e-6)
    var = tables.post_var.double() + ct**2 * (1 - sig)
    torch.testing.assert_close(var, 1 - prev, rtol=1e-5, atol=1e-6)
    assert float(tables.post_var[0].abs().max()) < 1e-6  # deterministic last step


# -- the generator ----------------------------------------------------------------------
from usbench.data.imageset import ImageSet  # noqa: E402
from usbench.generators.bmap_ddpm import BMapDDPMGenerator, choose_probe  # noqa: E402
from usbench.generators.ddpm import DDPMGenerator  # noqa: E402
from usbench.protocols import FitContext  # noqa: E402


def tiny_images(n: int = 6, size: int = 16) -> ImageSet:
    g = torch.Generator().manual_seed(5)
    rows = torch.linspace(1.0, 0.2, size).view(1, 1, size, 1)  # bright near the probe
    images = (rows * torch.rand(n, 1, size, size, generator=g)).clamp(0, 1)
    return ImageSet(
        images=images,
        labels=torch.arange(n) % 2,
        class_names=("a-lines", "b-lines"),
        patient_ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"img{i:02d}" for i in range(n)),
        name="tiny",
    )


def _fit(cls, tmp_path, preset="smoke", resume=False, **overrides):
    gen = cls.from_preset(preset, {k: str(v) for k, v in overrides.items()})
    gen.fit(tiny_images(), FitContext(tmp_path, seed=3, resume=resume, progress=False))
    return gen


def test_generator_with_floor_one_samples_like_ddpm(tmp_path):
    base = _fit(DDPMGenerator, tmp_path / "ddpm", class_conditional=True)
    values = {"bmap_floor": "1", "class_conditional": "1", "probe": "linear"}
    bmap = BMapDDPMGenerator.from_preset("smoke", values)
    bmap.restore(base.state_meta(), base.state_tensors())
    labels = torch.tensor([0, 1, 1])
    ours = bmap.sample(3, seed=11, labels=labels).images
    theirs = base.sample(3, seed=11, labels=labels).images
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=0)
    # and with B-maps the same weights sample differently
    bmap2 = BMapDDPMGenerator.from_preset("smoke", {**values, "bmap_floor": "0.5"})
    bmap2.restore(base.state_meta(), base.state_tensors())
    assert float((bmap2.sample(3, seed=11, labels=labels).images - theirs).abs().max()) > 1e-3


def test_training_loss_with_floor_one_equals_ddpm(tmp_path):
    base = DDPMGenerator.from_preset("smoke")
    bmap = BMapDDPMGenerator.from_preset("smoke", {"bmap_floor": "1", "probe": "linear"})
    m0, m1 = base.build_model(None), bmap.build_model(None)
    m1.load_state_dict(m0.state_dict())
    images = tiny_images().images[:4]
    l0 = m0(images, None, torch.Generator().manual_seed(2))
    l1 = m1(images, None, torch.Generator().manual_seed(2))
    assert abs(l0.item() - l1.item()) < 1e-5


def test_save_load_determinism_and_resume(tmp_path):
    gen = _fit(BMapDDPMGenerator, tmp_path / "a", probe="convex", steps=4)
    batch = gen.sample(5, seed=0)
    assert batch.images.shape == (5, 1, 16, 16) and batch.labels is None
    torch.testing.assert_close(gen.sample(5, seed=0).images, batch.images)
    assert float((gen.sample(5, seed=1).images - batch.images).abs().max()) > 1e-3
    loaded = BMapDDPMGenerator.load(gen.save(tmp_path / "saved"))
    torch.testing.assert_close(loaded.sample(5, seed=0).images, batch.images)
    # a run stopped after 2 steps and resumed to 4 ends with the same weights
    _fit(BMapDDPMGenerator, tmp_path / "b", probe="convex", steps=2)
    resumed = _fit(BMapDDPMGenerator, tmp_path / "b", resume=True, probe="convex", steps=4)
    for name, tensor in gen.state_tensors().items():
        torch.testing.assert_close(resumed.state_tensors()[name], tensor, atol=0, rtol=0)


def test_probe_auto_takes_the_majority_and_survives_load(tmp_path):
    assert choose_probe("auto", ("convex", "convex", "linear", "")) == "convex"
    assert choose_probe("auto", ("convex", "linear", "linear")) == "linear"
    assert choose_probe("auto", ("convex", "linear")) == "linear"  # tie
    assert choose_probe("auto", ("", "")) == "linear"  # unknown probes
    assert choose_probe("convex", ("linear",) * 3) == "convex"  # explicit wins
    data = tiny_images()
    data = ImageSet(**{**vars(data), "probes": ("convex",) * 4 + ("linear",) * 2})
    gen = BMapDDPMGenerator.from_preset("smoke")
    assert gen.config.probe == "auto"
    gen.fit(data, FitContext(tmp_path / "run", seed=3, progress=False))
    assert gen.state_meta()["probe"] == "convex"
    fan = BMapDDPMGenerator.from_preset("smoke", {"probe": "convex"}).config.diffusion()
    torch.testing.assert_close(gen.model.sqrt_signal, fan.tables().sqrt_signal, atol=0, rtol=0)
    outside = fan_depth(16, 16) < 0
    assert bool(outside.any()) and not bool(linear_probe_depth(16, 16).lt(0).any())
    loaded = BMapDDPMGenerator.load(gen.save(tmp_path / "saved"))
    assert loaded.probe == "convex"
    torch.testing.assert_close(loaded.model.sqrt_signal, gen.model.sqrt_signal, atol=0, rtol=0)
    torch.testing.assert_close(loaded.sample(2, seed=1).images, gen.sample(2, seed=1).images)


def test_paper_preset_matches_seed():
    cfg = BMapDDPMGenerator.from_preset("paper").config
    assert cfg.probe == "auto"  # one model per dataset with that dataset's probe, as in §3.1
    assert (cfg.timesteps, cfg.train.batch_size, cfg.train.lr) == (2000, 4, 1e-4)
    assert (cfg.beta_schedule, cfg.bmap_schedule, cfg.bmap_floor) == ("cosine", "sqrt", 0.97)


def test_figure_helper(tmp_path):
    from usbench.generators._lib.bmap_figures import bmap_figure, figure_timesteps, forward_strip

    diff = BMapDiffusion.build(steps=50, height=16, width=16, floor_eps=0.5, probe="convex")
    assert figure_timesteps(50, 6) == [0, 10, 20, 29, 39, 49]
    image = tiny_images().images[0]
    strip = forward_strip(diff, image, [0, 49], seed=3)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(3))
    tables = diff.tables()
    expected = tables.sqrt_signal[49] * (image * 2 - 1) + tables.sqrt_noise[49] * noise
    torch.testing.assert_close(strip[1], expected)
    out = bmap_figure(diff, image, tmp_path / "bmaps.png", columns=4)
    assert out.stat().st_size > 5000 and out.read_bytes()[:4] == b"\x89PNG"
