"""SinDDM (Kulikov et al., 2023) and FewDDM (seed 003 §5.3): multi-scale single-image diffusion.

One small fully convolutional denoiser is trained on every scale of an image pyramid. The
forward process at scale ``s > 0`` mixes the clean image with a blurry one (the previous
scale upsampled) and noise (seed 003 Eq. 1)::

    x_t^s = sqrt(ᾱ_t) (γ_t^s x̃^s + (1 − γ_t^s) x^s) + sqrt(1 − ᾱ_t) ε

with ``γ_t^s = clamp(σ_t / (loss_factor · ℓ^s), 0, 1)``, ``σ_t = sqrt((1 − ᾱ_t) / ᾱ_t)``
and ``ℓ^s`` the rescaling loss of scale ``s``. Sampling runs coarse to fine: DDPM from pure
noise at the coarsest scale, then at each finer scale the previous sample is upsampled,
noised to the step where ``σ_t`` first exceeds ``ℓ^s`` and denoised deterministically with
the blur-aware posterior (γ clamped to 0.55).

FewDDM is the same model trained on 2–3 images of one class: every training step draws
one of them at random (seed 003 §5.3).

Shapes: training images ``N×1×H×W`` float32 in [0, 1]; the networks work in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from usbench.data.imageset import ImageSet
from usbench.generators._lib.single_source import (
    assign_models,
    group_sources,
    resize,
    select_sources,
    to_signed,
    to_unit,
)
from usbench.protocols import Capabilities, FitContext, Generator
from usbench.samples import SampleBatch

# --------------------------------------------------------------------------------------
# Schedules and pyramid
# --------------------------------------------------------------------------------------


def cosine_alphas_cumprod(timesteps: int, offset: float = 0.008) -> np.ndarray:
    """ᾱ_t, t = 0..T−1, of the cosine schedule (Nichol & Dhariwal 2021), float64.

    β_t is clipped to 0.999 as in the official code; ᾱ is the running product of 1 − β.
    """
    steps = np.linspace(0, timesteps + 1, timesteps + 1)
    f = np.cos(((steps / (timesteps + 1)) + offset) / (1 + offset) * np.pi * 0.5) ** 2
    f = f / f[0]
    betas = np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)
    return np.cumprod(1.0 - betas)


@dataclass(frozen=True)
class Pyramid:
    """Sizes of the scales, coarsest first, and the refitted scale step.

    sizes: ``(h, w)`` per scale, ``sizes[-1]`` the (pixel-capped) training size.
    scale_step: the factor between neighbouring scales after refitting to the image.
    """

    sizes: tuple[tuple[int, int], ...]
    scale_step: float


def pyramid_sizes(
    height: int,
    width: int,
    *,
    max_pixels: int,
    scale_step: float,
    coarsest_area: int,
    coarsest_side: tuple[int, int],
) -> Pyramid:
    """The SinDDM pyramid rule (official ``create_img_scales``).

    1. Cap the image at ``max_pixels``: if ``H·W`` exceeds it, divide both sides by
       ``sqrt(H·W / max_pixels)`` (truncating).
    2. Coarsest short side ``c = round(sqrt(coarsest_area · short / long))`` clamped to
       ``coarsest_side`` (42–55 in the paper config).
    3. ``N = round(ln(short / c) / ln(scale_step)) + 1`` scales; refit the step to
       ``exp(ln(short / c) / (N − 1))``; scale ``i`` has sides ``round(side / step^(N−1−i))``.

    A 256×256 image with the paper values gives 5 scales 55, 78, 111, 157, 223.
    """
    scaler = math.sqrt(height * width / max_pixels)
    if scaler > 1:
        height, width = int(height / scaler), int(width / scaler)
    short, long = min(height, width), max(height, width)
    coarse = int(round(math.sqrt(coarsest_area * short / long)))
    coarse = min(max(coarse, coarsest_side[0]), coarsest_side[1])
    if short <= coarse:
        return Pyramid(((height, width),), 1.0)
    n_scales = int(round(math.log(short / coarse) / math.log(scale_step))) + 1
    if n_scales < 2:
        return Pyramid(((height, width),), 1.0)
    step = math.exp(math.log(short / coarse) / (n_scales - 1))
    sizes = tuple(
        (
            int(round(height / step ** (n_scales - 1 - i))),
            int(round(width / step ** (n_scales - 1 - i))),
        )
        for i in range(n_scales)
    )
    return Pyramid(sizes, step)


def build_scales(image: torch.Tensor, sizes: tuple[tuple[int, int], ...]) -> list[torch.Tensor]:
    """``1×1×H×W`` in [0, 1] → one antialiased bicubic resize per pyramid size, in [0, 1]."""
    return [resize(image, size).clamp(0.0, 1.0) for size in sizes]


def blurry_scales(scales: list[torch.Tensor]) -> list[torch.Tensor]:
    """x̃^s: scale ``s − 1`` upsampled (bilinear) to scale ``s``; x̃^0 = x^0."""
    out = [scales[0]]
    for prev, cur in zip(scales[:-1], scales[1:], strict=True):
        out.append(resize(prev, tuple(cur.shape[-2:]), mode="bilinear").clamp(0.0, 1.0))
    return out


def rescale_loss(clean: torch.Tensor, blurry: torch.Tensor, *, wraparound: bool) -> float:
    """ℓ^s = ||q(x^s) − q(x̃^s)||₂ / numel on 8-bit RGB pixel values (official definition).

    The official code subtracts two 8-bit RGB images as unsigned bytes, so negative
    differences wrap around modulo 256; ``wraparound=True`` reproduces that (it sets how
    far each scale is noised before denoising), ``False`` uses plain differences.
    The grayscale image counts as three identical RGB channels.
    """
    a = (clean.double() * 255).round()
    b = (blurry.double() * 255).round()
    diff = torch.remainder(a - b, 256) if wraparound else a - b
    norm = math.sqrt(3.0 * float((diff**2).sum()))
    return norm / (3.0 * clean.numel())


# --------------------------------------------------------------------------------------
# Denoiser
# --------------------------------------------------------------------------------------


def sinusoidal_embedding(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``B`` floats → ``B×dim`` [sin | cos] features with geometric frequencies 1 … 1/10000."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=values.device) * -(math.log(10000) / (half - 1)))
    angles = values.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class SinDDMBlock(nn.Module):
    """5×5 depthwise conv + conditioning → 3×3 conv → GELU → 3×3 conv, plus a 1×1 skip.

    ``B×c_in×H×W`` and a ``B×cond_dim`` vector → ``B×c_out×H×W``. No normalisation.
    """

    def __init__(self, c_in: int, c_out: int, *, cond_dim: int) -> None:
        super().__init__()
        self.cond = nn.Sequential(nn.GELU(), nn.Linear(cond_dim, cond_dim))
        self.cond_to_channels = nn.Conv2d(cond_dim, c_in, 1)
        self.depthwise = nn.Conv2d(c_in, c_in, 5, padding=2, groups=c_in)
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.GELU(), nn.Conv2d(c_out, c_out, 3, padding=1)
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        shift = self.cond_to_channels(self.cond(cond)[:, :, None, None])
        return self.body(self.depthwise(x) + shift) + self.skip(x)


class SinDDMDenoiser(nn.Module):
    """The SinDDM noise predictor: 4 blocks (dim/2, dim, dim, dim/2) and a 1×1 output.

    Input ``B×channels×H×W`` (any H, W), timesteps ``B`` int64, scales ``B`` int64;
    output ε̂ of the same shape. Time and scale are each a ``embed_dim``-d sinusoidal
    embedding, concatenated and mapped by an MLP ``2e → 4e → e``. The receptive field is
    33×33 pixels (four blocks of 5×5 + 3×3 + 3×3 convolutions).
    """

    receptive_field: ClassVar[int] = 33

    def __init__(self, *, dim: int = 160, channels: int = 1, embed_dim: int = 32) -> None:
        super().__init__()
        half = dim // 2
        self.embed_dim = embed_dim
        self.cond_mlp = nn.Sequential(
            nn.Linear(2 * embed_dim, 4 * embed_dim), nn.GELU(), nn.Linear(4 * embed_dim, embed_dim)
        )
        widths = [channels, half, dim, dim, half]
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.blocks = nn.ModuleList(SinDDMBlock(a, b, cond_dim=embed_dim) for a, b in pairs)
        self.out = nn.Conv2d(half, channels, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Predict the noise in ``x`` at timesteps ``t`` and pyramid scales ``scale``."""
        cond = torch.cat(
            [sinusoidal_embedding(t, self.embed_dim), sinusoidal_embedding(scale, self.embed_dim)],
            dim=1,
        )
        cond = self.cond_mlp(cond)
        for block in self.blocks:
            x = block(x, cond)
        return self.out(x)


# --------------------------------------------------------------------------------------
# Diffusion process
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffusionSchedule:
    """Per-timestep coefficients (float32 tensors of length T) of the cosine schedule."""

    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_coef_x0: torch.Tensor
    posterior_coef_xt: torch.Tensor

    @classmethod
    def cosine(cls, timesteps: int) -> DiffusionSchedule:
        """The schedule for ``timesteps`` steps."""
        ab = cosine_alphas_cumprod(timesteps)
        ab_prev = np.append(1.0, ab[:-1])
        betas = 1.0 - ab / ab_prev
        post_var = betas * (1.0 - ab_prev) / (1.0 - ab)
        coef_x0 = betas * np.sqrt(ab_prev) / (1.0 - ab)
        coef_xt = (1.0 - ab_prev) * np.sqrt(1.0 - betas) / (1.0 - ab)
        as_t = [
            torch.tensor(a, dtype=torch.float32) for a in (ab, ab_prev, post_var, coef_x0, coef_xt)
        ]
        return cls(*as_t)

    @property
    def timesteps(self) -> int:
        """T."""
        return int(self.alphas_cumprod.shape[0])

    def sigma(self) -> torch.Tensor:
        """σ_t = sqrt((1 − ᾱ_t) / ᾱ_t), float64, length T."""
        ab = self.alphas_cumprod.double()
        return torch.sqrt((1.0 - ab) / ab)


def blur_gammas(
    schedule: DiffusionSchedule, losses: list[float], loss_factor: float
) -> torch.Tensor:
    """γ_t^s for scales 1..N−1: ``clamp(σ_t / (loss_factor · ℓ^s), 0, 1)``, ``(N−1)×T``."""
    sigma = schedule.sigma()
    rows = [(sigma / (loss_factor * max(loss, 1e-12))).clamp(0.0, 1.0) for loss in losses]
    if not rows:
        return torch.zeros(0, schedule.timesteps)
    return torch.stack(rows).float()


def start_steps(schedule: DiffusionSchedule, losses: list[float], loss_factor: float) -> list[int]:
    """Per finer scale, the first t with σ_t > loss_factor · ℓ^s (0 if none): where sampling
    at that scale starts after noising the upsampled coarser sample."""
    sigma = schedule.sigma()
    steps = []
    for loss in losses:
        above = torch.nonzero(sigma > loss_factor * loss)
        steps.append(int(above[0]) if len(above) else 0)
    return steps


def _gather(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return values[t][:, None, None, None]


def _noise_like(x: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One standard-normal draw per sample, each from its own generator (batch invariant)."""
    return torch.stack([torch.randn(x.shape[1:], generator=g) for g in generators])


class MultiScaleDiffusion(nn.Module):
    """Training objective of SinDDM/FewDDM over the pyramids of one or a few images.

    ``clean[s]`` and ``blurry[s]`` are ``n_images×1×h_s×w_s`` in [-1, 1] (non-persistent
    buffers; only the denoiser's weights are state); ``scale_losses`` are ℓ^1 … ℓ^{N−1}.
    ``forward(draw, labels, generator)`` takes a ``draw`` = LongTensor ``[scale, image]``
    and returns the scalar L1 loss between the true and the predicted noise on a batch of
    ``batch_size`` noisy copies of that image at that scale;
    timesteps and noise come from ``generator``.
    """

    def __init__(
        self,
        denoiser: SinDDMDenoiser,
        *,
        clean: list[torch.Tensor],
        blurry: list[torch.Tensor],
        schedule: DiffusionSchedule,
        scale_losses: list[float],
        loss_factor: float,
        batch_size: int,
    ) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.scale_losses = list(scale_losses)
        gammas = blur_gammas(schedule, self.scale_losses, loss_factor)
        self.schedule = schedule
        self.n_scales = len(clean)
        self.batch_size = batch_size
        for s, (c, b) in enumerate(zip(clean, blurry, strict=True)):
            self.register_buffer(f"clean_{s}", c, persistent=False)
            self.register_buffer(f"blurry_{s}", b, persistent=False)
        self.register_buffer("gammas", gammas, persistent=False)

    def forward(
        self, draw: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        """The L1 noise-prediction loss for the scale and image named by ``draw``."""
        scale, image = int(draw[0]), int(draw[1])
        x0 = getattr(self, f"clean_{scale}")[image : image + 1]
        x0 = x0.expand(self.batch_size, -1, -1, -1)
        t = torch.randint(0, self.schedule.timesteps, (self.batch_size,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        if scale > 0:
            gamma = _gather(self.gammas[scale - 1], t)
            blurry = getattr(self, f"blurry_{scale}")[image : image + 1]
            x0 = gamma * blurry + (1.0 - gamma) * x0
        ab = _gather(self.schedule.alphas_cumprod, t)
        noisy = ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise
        scales = torch.full((self.batch_size,), scale, dtype=torch.long)
        return (noise - self.denoiser(noisy, t, scales)).abs().mean()


class PyramidDraws:
    """Batch source for :func:`usbench.training.train`: each step picks a scale uniformly
    (the official ``train_full_t`` weighting) and, for FewDDM, one of the images uniformly.

    ``batch(step, generator)`` → (LongTensor ``[scale, image]``, ``None``).
    """

    def __init__(self, n_scales: int, n_images: int) -> None:
        self.n_scales = n_scales
        self.n_images = n_images

    def batch(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, None]:
        """Draw the scale and image of one training step."""
        scale = torch.randint(0, self.n_scales, (1,), generator=generator)
        image = torch.randint(0, self.n_images, (1,), generator=generator)
        return torch.cat([scale, image]), None


@torch.no_grad()
def sample_coarsest(
    denoiser: SinDDMDenoiser,
    schedule: DiffusionSchedule,
    size: tuple[int, int],
    generators: list[torch.Generator],
) -> torch.Tensor:
    """Ancestral DDPM sampling at scale 0 from pure noise; ``B×1×h×w`` in [-1, 1]."""
    shape = (len(generators), 1, *size)
    x = _noise_like(torch.empty(shape), generators)
    ab, sched = schedule.alphas_cumprod, schedule
    for step in reversed(range(schedule.timesteps)):
        t = torch.full((shape[0],), step, dtype=torch.long)
        eps = denoiser(x, t, torch.zeros_like(t))
        x0 = ((x - (1 - ab[step]).sqrt() * eps) / ab[step].sqrt()).clamp(-1.0, 1.0)
        x = sched.posterior_coef_x0[step] * x0 + sched.posterior_coef_xt[step] * x
        if step > 0:
            x = x + sched.posterior_variance[step].sqrt() * _noise_like(x, generators)
    return x


@torch.no_grad()
def sample_finer(
    denoiser: SinDDMDenoiser,
    schedule: DiffusionSchedule,
    upsampled: torch.Tensor,
    *,
    scale: int,
    start: int,
    gammas: torch.Tensor,
    gamma_clamp: float,
    generators: list[torch.Generator],
) -> torch.Tensor:
    """Denoise the upsampled coarser sample at ``scale`` (≥ 1); ``B×1×h×w`` in [-1, 1].

    The sample is noised to step ``start`` and denoised for t = start−1 … 0 with the
    deterministic blur-aware update of the official code: the predicted mix x̂ is
    deblurred with γ_t (clamped to ``gamma_clamp``), re-blurred with γ_{t−1}, and the
    noise direction of x_t is carried over (DDIM-like, no fresh noise).
    """
    ab = schedule.alphas_cumprod
    g = gammas.clamp(0.0, gamma_clamp)
    x = ab[start].sqrt() * upsampled + (1 - ab[start]).sqrt() * _noise_like(upsampled, generators)
    scales = torch.full((x.shape[0],), scale, dtype=torch.long)
    for step in reversed(range(start)):
        t = torch.full((x.shape[0],), step, dtype=torch.long)
        eps = denoiser(x, t, scales)
        mix_t = (x - (1 - ab[step]).sqrt() * eps) / ab[step].sqrt()
        clean = (mix_t - g[step] * upsampled) / (1 - g[step])
        if step == 0:
            return clean.clamp(-1.0, 1.0)
        mix_prev = (g[step - 1] * upsampled + (1 - g[step - 1]) * clean).clamp(-1.0, 1.0)
        direction = (x - ab[step].sqrt() * mix_t.clamp(-1.0, 1.0)) / (1 - ab[step]).sqrt()
        x = ab[step - 1].sqrt() * mix_prev + (1 - ab[step - 1]).sqrt() * direction
    return x.clamp(-1.0, 1.0)


# --------------------------------------------------------------------------------------
# Generator plugins
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinDDMConfig:
    """SinDDM hyper-parameters. Defaults = the official code (fallenshock/SinDDM ``main.py``,
    ``create_img_scales``, ``MultiscaleTrainer``) and seed 003 §4.2.1.

    Network: ``dim`` 160 (widest block; blocks dim/2, dim, dim, dim/2), ``embed_dim`` 32
    (time and scale sinusoidal embeddings). Diffusion: ``timesteps`` T = 100 (cosine),
    ``loss_factor`` 1 (γ = σ_t / (loss_factor·ℓ^s)), ``gamma_clamp`` 0.55 (γ limit when
    sampling), ``rescale_loss_wraparound`` (ℓ^s computed with 8-bit wrap-around, as the
    official code does — see :func:`rescale_loss`). Pyramid: ``max_pixels`` 50 000,
    ``scale_step`` 1.411 (refitted), ``coarsest_area`` 3110 and ``coarsest_side`` (42, 55).
    Training: ``steps`` 120 000, ``batch_size`` 32, Adam ``learning_rate`` 1e-3 halved
    (``lr_gamma``) at ``lr_milestones`` 20/40/70/80/90/110k, no gradient clipping
    (``grad_clip`` None). ``ema_decay`` 0.9995 per step ≈ the official 0.995 applied every
    10 steps. ``checkpoint_every`` 10 000 (official save interval).

    Sources (usbench choice, seed 003 trained one model per pneumonia image):
    ``source_names`` explicit images, else ``source_classes`` (all when empty) with at most
    ``sources_per_class`` images per class (0 = all) in dataset order;
    ``images_per_model`` 1 = SinDDM, 2–3 = FewDDM (groups of one class).

    Sampling: ``scale_hw`` (height, width) multipliers of the output size relative to the
    training image (the official ``scale_mul``): every pyramid scale is scaled by them, and
    the finest sample is resized to ``round(H·scale_hw[0]) × round(W·scale_hw[1])`` of the
    training image ``H×W``. ``sample_batch_size`` samples are denoised together.
    """

    dim: int = 160
    embed_dim: int = 32
    timesteps: int = 100
    loss_factor: float = 1.0
    gamma_clamp: float = 0.55
    rescale_loss_wraparound: bool = True
    max_pixels: int = 50_000
    scale_step: float = 1.411
    coarsest_area: int = 3110
    coarsest_side: tuple[int, ...] = (42, 55)
    steps: int = 120_000
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_milestones: tuple[int, ...] = (20_000, 40_000, 70_000, 80_000, 90_000, 110_000)
    lr_gamma: float = 0.5
    grad_clip: float | None = None
    ema_decay: float = 0.9995
    checkpoint_every: int = 10_000
    source_names: tuple[str, ...] = ()
    source_classes: tuple[str, ...] = ()
    sources_per_class: int = 0
    images_per_model: int = 1
    scale_hw: tuple[float, ...] = (1.0, 1.0)
    sample_batch_size: int = 16

    def __post_init__(self) -> None:
        if len(self.coarsest_side) != 2 or self.coarsest_side[0] > self.coarsest_side[1]:
            raise ValueError("coarsest_side must be two sizes low,high, e.g. coarsest_side=42,55")
        if len(self.scale_hw) != 2 or min(self.scale_hw) <= 0:
            raise ValueError("scale_hw must be two positive factors, e.g. scale_hw=1,1.5")
        if self.timesteps < 2 or self.steps < 1 or self.batch_size < 1:
            raise ValueError("timesteps must be >= 2, steps and batch_size >= 1")
        if self.scale_step <= 1:
            raise ValueError("scale_step must be > 1, e.g. scale_step=1.411")
        if self.images_per_model < 1:
            raise ValueError("images_per_model must be >= 1 (1 = SinDDM, 2-3 = FewDDM)")


_QUICK = {
    "dim": 32,
    "max_pixels": 4096,
    "coarsest_side": (24, 24),
    "steps": 1000,
    "batch_size": 8,
    "lr_milestones": (600, 800),
    "ema_decay": 0.995,
    "checkpoint_every": 250,
}
_SMOKE = {
    "dim": 16,
    "timesteps": 12,
    "max_pixels": 1024,
    "coarsest_side": (16, 16),
    "steps": 20,
    "batch_size": 4,
    "lr_milestones": (),
    "ema_decay": 0.0,
    "checkpoint_every": 10,
    "sample_batch_size": 8,
}


@dataclass
class _TrainedPyramid:
    """One trained model: its denoiser and what sampling needs to know about its images."""

    denoiser: SinDDMDenoiser
    sources: tuple[str, ...]
    label: int
    sizes: tuple[tuple[int, int], ...]
    losses: list[float]
    coarsest: torch.Tensor  # n_images×1×h0×w0 in [-1, 1], to name the nearest source


class SinDDM(Generator):
    """SinDDM: one multi-scale diffusion model per source image (see module docstring).

    ``fit`` selects the sources (Config ``source_*``), builds each pyramid and trains
    each model with :func:`usbench.training.train` under ``tag=f"src-{i}"``.
    ``sample(n, seed=…, labels=None)`` assigns samples round-robin over the models, or,
    with ``labels``, round-robin over the models of each requested class; every sample
    carries its source image name and the class of that source.

    The seed 003 setting (8 pneumonia images, 32 samples from each)::

        usbench run -g sinddm -d lus --preset paper --set source_classes=pneumonia \
            --set sources_per_class=8 --n-samples 256
    """

    name: ClassVar[str] = "sinddm"
    Config: ClassVar[type] = SinDDMConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "quick": _QUICK, "smoke": _SMOKE}
    capabilities: ClassVar[Capabilities] = Capabilities(
        class_conditional=True, single_image=True, source_guided=True
    )

    def __init__(self, config: SinDDMConfig) -> None:
        super().__init__(config)
        self.models: list[_TrainedPyramid] = []
        self.image_size: tuple[int, int] = (0, 0)
        self.class_names: tuple[str, ...] = ()

    # -- training --------------------------------------------------------------------
    def pyramid(self, height: int, width: int) -> Pyramid:
        """The pyramid this config builds for an ``height×width`` image."""
        c = self.config
        return pyramid_sizes(
            height,
            width,
            max_pixels=c.max_pixels,
            scale_step=c.scale_step,
            coarsest_area=c.coarsest_area,
            coarsest_side=(c.coarsest_side[0], c.coarsest_side[1]),
        )

    def fit(self, train: ImageSet, ctx: FitContext) -> None:
        """Train one model per source group; deterministic given ``ctx.seed``."""
        c = self.config
        chosen = select_sources(
            train,
            source_names=c.source_names,
            source_classes=c.source_classes,
            sources_per_class=c.sources_per_class,
        )
        groups = group_sources(chosen, train.labels.tolist(), c.images_per_model)
        self.image_size = train.image_size
        self.class_names = train.class_names
        self.models = [self._fit_group(train, group, i, ctx) for i, group in enumerate(groups)]

    def build_objective(self, images: torch.Tensor, *, seed: int) -> MultiScaleDiffusion:
        """The training module for ``images`` (``n×1×H×W`` in [0, 1]), weights from ``seed``."""
        c = self.config
        pyramid = self.pyramid(*images.shape[-2:])
        per_image = [build_scales(img[None], pyramid.sizes) for img in images]
        blurry = [blurry_scales(scales) for scales in per_image]
        losses = self._scale_losses(per_image, blurry)
        schedule = DiffusionSchedule.cosine(c.timesteps)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            denoiser = SinDDMDenoiser(dim=c.dim, embed_dim=c.embed_dim)
        stack = [torch.cat([to_signed(p[s]) for p in per_image]) for s in range(len(pyramid.sizes))]
        stack_b = [torch.cat([to_signed(b[s]) for b in blurry]) for s in range(len(pyramid.sizes))]
        return MultiScaleDiffusion(
            denoiser,
            clean=stack,
            blurry=stack_b,
            schedule=schedule,
            scale_losses=losses,
            loss_factor=c.loss_factor,
            batch_size=c.batch_size,
        )

    def _scale_losses(
        self, per_image: list[list[torch.Tensor]], blurry: list[list[torch.Tensor]]
    ) -> list[float]:
        """ℓ^s per finer scale, averaged over the images of a FewDDM group."""
        wrap = self.config.rescale_loss_wraparound
        losses = []
        for s in range(1, len(per_image[0])):
            pairs = zip(per_image, blurry, strict=True)
            losses.append(
                float(np.mean([rescale_loss(p[s], b[s], wraparound=wrap) for p, b in pairs]))
            )
        return losses

    def _fit_group(
        self, train: ImageSet, group: list[int], index: int, ctx: FitContext
    ) -> _TrainedPyramid:
        from usbench.training import TrainSettings
        from usbench.training import train as run_training

        c = self.config
        images = train.images[group]
        objective = self.build_objective(images, seed=ctx.seed * 100_003 + index)
        settings = TrainSettings(
            steps=c.steps,
            batch_size=c.batch_size,
            learning_rate=c.learning_rate,
            ema_decay=c.ema_decay,
            lr_milestones=c.lr_milestones,
            lr_gamma=c.lr_gamma,
            grad_clip=c.grad_clip,
            checkpoint_every=c.checkpoint_every,
        )
        draws = PyramidDraws(objective.n_scales, len(group))
        outcome = run_training(objective, draws, settings, ctx, tag=f"src-{index}")
        objective.load_state_dict(outcome.ema_state)
        pyramid = self.pyramid(*images.shape[-2:])
        return _TrainedPyramid(
            denoiser=objective.denoiser.eval(),
            sources=tuple(train.names[i] for i in group),
            label=int(train.labels[group[0]]),
            sizes=pyramid.sizes,
            losses=objective.scale_losses,
            coarsest=objective.get_buffer("clean_0").clone(),
        )

    # -- sampling --------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if not self.models:
            raise RuntimeError(f"{self.name} is not trained; call fit() or load() first")

    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the samples: the training size times ``scale_hw``."""
        mh, mw = self.config.scale_hw
        return max(1, round(self.image_size[0] * mh)), max(1, round(self.image_size[1] * mw))

    def sample(self, n: int, *, seed: int, labels: torch.Tensor | None = None) -> SampleBatch:
        """``n`` samples ``n×1×H'×W'`` in [0, 1] (H', W' = :meth:`output_size`).

        Sample ``i`` uses its own random stream seeded from ``(seed, i)``, so a sample does
        not depend on ``n`` or on ``sample_batch_size``.
        """
        self._require_fitted()
        owners = assign_models(n, [m.label for m in self.models], labels)
        images = torch.empty(n, 1, *self.output_size())
        sources: list[str] = [""] * n
        for m, model in enumerate(self.models):
            mine = [i for i in range(n) if owners[i] == m]
            for k in range(0, len(mine), self.config.sample_batch_size):
                chunk = mine[k : k + self.config.sample_batch_size]
                gens = [torch.Generator().manual_seed(seed * 1_000_003 + i) for i in chunk]
                out, names = self._sample_model(model, gens)
                images[chunk] = out
                for i, name in zip(chunk, names, strict=True):
                    sources[i] = name
        owner_labels = torch.tensor([self.models[m].label for m in owners], dtype=torch.long)
        return SampleBatch(images, owner_labels, tuple(sources))

    def _scaled(self, size: tuple[int, int]) -> tuple[int, int]:
        mh, mw = self.config.scale_hw
        return max(1, int(size[0] * mh)), max(1, int(size[1] * mw))

    def _sample_model(
        self, model: _TrainedPyramid, gens: list[torch.Generator]
    ) -> tuple[torch.Tensor, list[str]]:
        c = self.config
        schedule = DiffusionSchedule.cosine(c.timesteps)
        gammas = blur_gammas(schedule, model.losses, c.loss_factor)
        starts = start_steps(schedule, model.losses, c.loss_factor)
        x = sample_coarsest(model.denoiser, schedule, self._scaled(model.sizes[0]), gens)
        names = self._nearest_sources(model, x)
        for s in range(1, len(model.sizes)):
            up = resize(x, self._scaled(model.sizes[s]), mode="bilinear")
            x = sample_finer(
                model.denoiser,
                schedule,
                up,
                scale=s,
                start=starts[s - 1],
                gammas=gammas[s - 1],
                gamma_clamp=c.gamma_clamp,
                generators=gens,
            )
        return to_unit(resize(x, self.output_size())), names

    @staticmethod
    def _nearest_sources(model: _TrainedPyramid, coarse: torch.Tensor) -> list[str]:
        """The group image closest (mean squared error at the coarsest scale) to each sample;
        for a single-image model simply its image."""
        if len(model.sources) == 1:
            return [model.sources[0]] * coarse.shape[0]
        ref = model.coarsest
        x = resize(coarse, tuple(ref.shape[-2:]))
        dist = ((x[:, None] - ref[None]) ** 2).flatten(2).mean(2)
        return [model.sources[int(j)] for j in dist.argmin(1)]

    # -- state -----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Denoiser weights ``model{m}.<param>`` and coarsest images ``model{m}.coarsest``."""
        self._require_fitted()
        out: dict[str, torch.Tensor] = {}
        for m, model in enumerate(self.models):
            for key, value in model.denoiser.state_dict().items():
                out[f"model{m}.{key}"] = value
            out[f"model{m}.coarsest"] = model.coarsest
        return out

    def state_meta(self) -> dict[str, Any]:
        """Image size, class names and per model: sources, label, pyramid sizes, ℓ^s."""
        self._require_fitted()
        return {
            "image_size": list(self.image_size),
            "class_names": list(self.class_names),
            "models": [
                {
                    "sources": list(m.sources),
                    "label": m.label,
                    "sizes": [list(s) for s in m.sizes],
                    "losses": m.losses,
                }
                for m in self.models
            ],
        }

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_meta` + :meth:`state_tensors`."""
        c = self.config
        self.image_size = (int(meta["image_size"][0]), int(meta["image_size"][1]))
        self.class_names = tuple(meta["class_names"])
        self.models = []
        for m, info in enumerate(meta["models"]):
            prefix = f"model{m}."
            denoiser = SinDDMDenoiser(dim=c.dim, embed_dim=c.embed_dim)
            weights = {
                k[len(prefix) :]: v
                for k, v in tensors.items()
                if k.startswith(prefix) and k != f"{prefix}coarsest"
            }
            denoiser.load_state_dict(weights)
            self.models.append(
                _TrainedPyramid(
                    denoiser=denoiser.eval(),
                    sources=tuple(info["sources"]),
                    label=int(info["label"]),
                    sizes=tuple((int(h), int(w)) for h, w in info["sizes"]),
                    losses=[float(v) for v in info["losses"]],
                    coarsest=tensors[f"{prefix}coarsest"],
                )
            )


@dataclass(frozen=True)
class FewDDMConfig(SinDDMConfig):
    """FewDDM = SinDDM trained on a few images of one class (seed 003 §5.3): every training
    step draws one image of the group at random. ``images_per_model`` defaults to 3 (the
    paper used 2–3 pneumonia images per training fold). All other fields as
    :class:`SinDDMConfig`. The γ schedule uses ℓ^s averaged over the group's images, and a
    sample's ``source`` is the group image nearest to it at the coarsest scale (both are
    usbench choices; the paper publishes no code for FewDDM).
    """

    images_per_model: int = 3


class FewDDM(SinDDM):
    """FewDDM: one SinDDM per group of 2–3 same-class images (see :class:`FewDDMConfig`)."""

    name: ClassVar[str] = "fewddm"
    Config: ClassVar[type] = FewDDMConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        class_conditional=True, few_image=True, source_guided=True
    )
