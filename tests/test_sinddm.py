"""SinDDM / FewDDM: pyramid rule, receptive field, forward process, sampler algebra, API."""

from __future__ import annotations

import math
import os

import pytest
import torch
from _single_image_data import striped_images

from usbench.generators._lib.sinddm_model import (
    DiffusionSchedule,
    MultiScaleDiffusion,
    SinDDMDenoiser,
    blur_gammas,
    cosine_alphas_cumprod,
    pyramid_sizes,
    rescale_loss,
    start_steps,
)
from usbench.generators._lib.sinddm_sampling import sample_coarsest, sample_finer
from usbench.generators.sinddm import FewDDM, SinDDM
from usbench.protocols import FitContext

os.environ["HF_HUB_OFFLINE"] = "1"

PAPER = {
    "max_pixels": 50_000,
    "scale_step": 1.411,
    "coarsest_area": 3110,
    "coarsest_side": (42, 55),
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The test machine is shared; one intra-op thread is much faster there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- pyramid --------------------------------------------------------------------------
def test_pyramid_of_256_square_matches_official_rule():
    # 256² > 50k px → 223² (256 / sqrt(65536/50000) truncated); coarsest round(sqrt(3110))=56
    # clamped to 55; N = round(ln(223/55)/ln 1.411) + 1 = 5; step refitted to (223/55)^(1/4).
    pyr = pyramid_sizes(256, 256, **PAPER)
    assert pyr.sizes == ((55, 55), (78, 78), (111, 111), (157, 157), (223, 223))
    assert pyr.scale_step == pytest.approx((223 / 55) ** 0.25, rel=1e-12)


def test_pyramid_of_rectangle_by_hand():
    # 200×300 = 60k px → /sqrt(1.2) → 182×273; coarse round(sqrt(3110·182/273)) = 46;
    # N = round(ln(182/46)/ln 1.411) + 1 = 5; sizes 182/step^k with step = (182/46)^(1/4).
    pyr = pyramid_sizes(200, 300, **PAPER)
    step = (182 / 46) ** 0.25
    expected = tuple((round(182 / step ** (4 - i)), round(273 / step ** (4 - i))) for i in range(5))
    assert pyr.sizes == expected
    assert pyr.sizes[0] == (46, 69) and pyr.sizes[-1] == (182, 273)


def test_small_image_gives_single_scale():
    assert pyramid_sizes(40, 40, **PAPER).sizes == ((40, 40),)


# -- network --------------------------------------------------------------------------
def test_receptive_field_measured_by_gradient_support():
    torch.manual_seed(0)
    net = SinDDMDenoiser(dim=16)
    x = torch.randn(1, 1, 65, 65, requires_grad=True)
    t = torch.tensor([5])
    net(x, t, torch.tensor([1]))[0, 0, 32, 32].backward()
    support = x.grad[0, 0].abs() > 0
    rows = torch.nonzero(support.any(1)).flatten()
    cols = torch.nonzero(support.any(0)).flatten()
    side = SinDDMDenoiser.receptive_field
    assert side == 33
    assert (rows.min(), rows.max()) == (32 - side // 2, 32 + side // 2)
    assert (cols.min(), cols.max()) == (32 - side // 2, 32 + side // 2)


def test_paper_denoiser_widths_and_embedding():
    net = SinDDMDenoiser(dim=160)
    widths = [(b.body[0].in_channels, b.body[2].out_channels) for b in net.blocks]
    assert widths == [(1, 80), (80, 160), (160, 160), (160, 80)]
    assert all(b.depthwise.kernel_size == (5, 5) for b in net.blocks)
    mlp = [m for m in net.cond_mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in mlp] == [(64, 128), (128, 32)]


# -- schedules ------------------------------------------------------------------------
def test_cosine_schedule_closed_form():
    ab = cosine_alphas_cumprod(100)
    s = 0.008
    # official: T + 1 points spaced evenly on [0, 1] → f(k) at k / T, ᾱ_t = f(t + 1) / f(0)
    f = [math.cos(((k / 100) + s) / (1 + s) * math.pi / 2) ** 2 for k in range(101)]
    assert ab[10] == pytest.approx(f[11] / f[0], rel=1e-9)  # no clipping this early
    assert all(ab[i + 1] < ab[i] for i in range(99))


def test_gammas_follow_sigma_over_rescale_loss():
    sched = DiffusionSchedule.cosine(100)
    sigma = sched.sigma()
    gammas = blur_gammas(sched, [0.5, 2.0], 1.0)
    assert gammas.shape == (2, 100)
    assert float(gammas[0, 3]) == pytest.approx(float(sigma[3] / 0.5), rel=1e-6)
    assert torch.all(gammas[:, 1:] >= gammas[:, :-1]) and float(gammas.max()) == 1.0
    starts = start_steps(sched, [0.5, 2.0], 1.0)
    for loss, start in zip([0.5, 2.0], starts, strict=True):
        assert sigma[start] > loss and sigma[start - 1] <= loss


def test_rescale_loss_wraps_like_unsigned_bytes():
    clean = torch.zeros(1, 1, 1, 1)
    blurry = torch.full((1, 1, 1, 1), 1 / 255)
    # 0 − 1 as uint8 = 255, three RGB channels: sqrt(3·255²) / 3
    assert rescale_loss(clean, blurry, wraparound=True) == pytest.approx(255 / math.sqrt(3))
    assert rescale_loss(clean, blurry, wraparound=False) == pytest.approx(1 / math.sqrt(3))


# -- forward process and sampler algebra ------------------------------------------------
class _Recorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = None
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, scale):
        self.seen = (x.clone(), t.clone(), scale.clone())
        return torch.zeros_like(x) + self.w


def test_training_input_is_equation_1():
    sched = DiffusionSchedule.cosine(20)
    clean = [torch.rand(1, 1, 6, 6) * 2 - 1, torch.rand(1, 1, 8, 8) * 2 - 1]
    blurry = [clean[0], torch.rand(1, 1, 8, 8) * 2 - 1]
    rec = _Recorder()
    obj = MultiScaleDiffusion(
        rec,
        clean=clean,
        blurry=blurry,
        schedule=sched,
        scale_losses=[0.3],
        loss_factor=1.0,
        batch_size=4,
    )
    loss = obj(torch.tensor([1, 0]), None, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, 20, (4,), generator=g)
    noise = torch.randn(4, 1, 8, 8, generator=g)
    gamma = (sched.sigma()[t] / 0.3).clamp(0, 1).float()[:, None, None, None]
    ab = sched.alphas_cumprod[t][:, None, None, None]
    mix = gamma * blurry[1] + (1 - gamma) * clean[1]
    expected = ab.sqrt() * mix + (1 - ab).sqrt() * noise
    x_seen, t_seen, s_seen = rec.seen
    assert torch.equal(t_seen, t) and s_seen.tolist() == [1] * 4
    assert torch.allclose(x_seen, expected, atol=1e-6)
    assert float(loss.detach()) == pytest.approx(float(noise.abs().mean()), rel=1e-6)


class _Oracle(torch.nn.Module):
    """Predicts the exact noise for a known clean target (mixed with ``up`` by γ)."""

    def __init__(self, sched, target, up=None, gammas=None):
        super().__init__()
        self.sched, self.target, self.up, self.gammas = sched, target, up, gammas

    def forward(self, x, t, scale):
        ab = self.sched.alphas_cumprod[t][:, None, None, None]
        x0 = self.target
        if self.up is not None:
            g = self.gammas[t][:, None, None, None]
            x0 = g * self.up + (1 - g) * self.target
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()


def test_coarsest_sampler_recovers_oracle_target():
    sched = DiffusionSchedule.cosine(30)
    target = torch.rand(2, 1, 5, 5) * 1.6 - 0.8
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    out = sample_coarsest(_Oracle(sched, target), sched, (5, 5), gens)
    assert torch.allclose(out, target, atol=1e-4)


def test_finer_sampler_deblurs_with_clamped_gamma():
    sched = DiffusionSchedule.cosine(30)
    target = torch.rand(2, 1, 7, 7) * 1.6 - 0.8
    up = torch.rand(2, 1, 7, 7) * 1.6 - 0.8
    gammas = blur_gammas(sched, [0.4], 1.0)[0]
    oracle = _Oracle(sched, target, up, gammas.clamp(0, 0.55))
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    out = sample_finer(
        oracle, sched, up, scale=1, start=20, gammas=gammas, gamma_clamp=0.55, generators=gens
    )
    assert torch.allclose(out, target, atol=1e-4)


# -- generator API ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> SinDDM:
    gen = SinDDM.from_preset("smoke", {"train.steps": "6"})
    gen.fit(striped_images((0, 1)), FitContext(tmp_path_factory.mktemp("sinddm"), progress=False))
    return gen


def test_one_model_per_source_and_sources_named(fitted):
    assert [m.sources for m in fitted.models] == [("img0",), ("img1",)]
    batch = fitted.sample(5, seed=1)
    assert batch.images.shape == (5, 1, 32, 32)
    assert batch.sources == ("img0", "img1", "img0", "img1", "img0")
    assert batch.labels.tolist() == [0, 1, 0, 1, 0]
    assert float(batch.images.min()) >= 0.0 and float(batch.images.max()) <= 1.0


def test_sample_deterministic_and_batch_independent(fitted):
    a = fitted.sample(4, seed=7).images
    b = fitted.sample(4, seed=7).images
    assert torch.equal(a, b)
    assert torch.allclose(fitted.sample(2, seed=7).images, a[:2], atol=1e-6)
    assert not torch.allclose(fitted.sample(4, seed=8).images, a)


def test_labels_route_to_models_of_that_class(fitted):
    batch = fitted.sample(3, seed=0, labels=torch.tensor([1, 1, 0]))
    assert batch.sources == ("img1", "img1", "img0")
    with pytest.raises(ValueError, match="no model was trained on class 2"):
        fitted.sample(1, seed=0, labels=torch.tensor([2]))


def test_scale_hw_changes_output_size(fitted):
    wide = SinDDM(SinDDM.Config(**{**fitted.config.__dict__, "scale_hw": (1.0, 1.5)}))
    wide.restore(fitted.state_meta(), fitted.state_tensors())
    assert wide.sample(2, seed=0).images.shape == (2, 1, 32, 48)


def test_save_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path)
    again = SinDDM.load(tmp_path)
    assert torch.equal(again.sample(3, seed=2).images, fitted.sample(3, seed=2).images)


def test_paper_training_settings_and_data_size():
    train = SinDDM.Config().train
    assert (train.steps, train.batch_size, train.lr, train.grad_clip) == (120_000, 32, 1e-3, None)
    assert train.lr_milestones == (20_000, 40_000, 70_000, 80_000, 90_000, 110_000)
    assert (train.lr_gamma, train.ema_decay, train.checkpoint_every) == (0.5, 0.9995, 10_000)
    # no image_size in the Config: both ask the harness for 256 px explicitly
    assert SinDDM.data_image_size(SinDDM.Config()) == FewDDM.data_image_size(FewDDM.Config()) == 256


def test_source_selection_by_name(tmp_path):
    gen = SinDDM.from_preset("smoke", {"train.steps": "2", "source_names": "img2"})
    gen.fit(striped_images((0, 1, 1)), FitContext(tmp_path, progress=False))
    assert [m.sources for m in gen.models] == [("img2",)]
    with pytest.raises(ValueError, match="unknown source image"):
        bad = SinDDM.from_preset("smoke", {"source_names": "nope"})
        bad.fit(striped_images((0,)), FitContext(tmp_path, progress=False))


def test_fewddm_groups_images_of_one_class(tmp_path):
    gen = FewDDM.from_preset("smoke", {"train.steps": "4"})
    gen.fit(striped_images((0, 1, 1, 1, 1)), FitContext(tmp_path, progress=False))
    assert [m.sources for m in gen.models] == [("img0",), ("img1", "img2", "img3"), ("img4",)]
    batch = gen.sample(6, seed=0, labels=torch.tensor([1] * 6))
    assert set(batch.sources) <= {"img1", "img2", "img3", "img4"}
    assert [s == "img4" for s in batch.sources] == [False, True] * 3


def test_resume_continues_to_identical_weights(tmp_path):
    data = striped_images((0,))
    full = SinDDM.from_preset("smoke", {"train.steps": "6"})
    full.fit(data, FitContext(tmp_path / "full", seed=2, progress=False))
    # first run stops after 3 steps (its checkpoint is the newest), the second resumes
    SinDDM.from_preset("smoke", {"train.steps": "3"}).fit(
        data, FitContext(tmp_path / "cut", seed=2, progress=False)
    )
    resumed = SinDDM.from_preset("smoke", {"train.steps": "6"})
    resumed.fit(data, FitContext(tmp_path / "cut", seed=2, resume=True, progress=False))
    a, b = full.state_tensors(), resumed.state_tensors()
    assert all(torch.equal(a[k], b[k]) for k in a)
    fresh = SinDDM.from_preset("smoke", {"train.steps": "3"})
    fresh.fit(data, FitContext(tmp_path / "fresh", seed=2, progress=False))
    assert not all(torch.equal(a[k], fresh.state_tensors()[k]) for k in a)
