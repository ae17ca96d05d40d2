"""SinDDM's pyramid, denoiser, diffusion schedule and samplers (private to ``sinddm``).

The equations are in the docstring of :mod:`usbench.generators.sinddm`. Shapes: images
``N×1×H×W``; the networks work in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from usbench.generators._lib.single_source import resize

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
