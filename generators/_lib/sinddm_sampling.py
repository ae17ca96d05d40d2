"""SinDDM's coarse-to-fine samplers and a trained model (private to ``sinddm``).

Sample ``b`` of a batch draws all its noise from its own ``torch.Generator``, so a sample
does not depend on the batch it is drawn in. Images are ``B×1×h×w`` in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from usbench.generators._lib.sinddm_model import (
    DiffusionSchedule,
    SinDDMDenoiser,
    blur_gammas,
    start_steps,
)
from usbench.generators._lib.single_source import resize


def noise_like(x: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One standard-normal draw per sample, each from its own generator (batch invariant)."""
    return torch.stack([torch.randn(x.shape[1:], generator=g) for g in generators])


@torch.no_grad()
def sample_coarsest(
    denoiser: SinDDMDenoiser,
    schedule: DiffusionSchedule,
    size: tuple[int, int],
    generators: list[torch.Generator],
) -> torch.Tensor:
    """Ancestral DDPM sampling at scale 0 from pure noise; ``B×1×h×w`` in [-1, 1]."""
    shape = (len(generators), 1, *size)
    x = noise_like(torch.empty(shape), generators)
    ab, sched = schedule.alphas_cumprod, schedule
    for step in reversed(range(schedule.timesteps)):
        t = torch.full((shape[0],), step, dtype=torch.long)
        eps = denoiser(x, t, torch.zeros_like(t))
        x0 = ((x - (1 - ab[step]).sqrt() * eps) / ab[step].sqrt()).clamp(-1.0, 1.0)
        x = sched.posterior_coef_x0[step] * x0 + sched.posterior_coef_xt[step] * x
        if step > 0:
            x = x + sched.posterior_variance[step].sqrt() * noise_like(x, generators)
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
    x = ab[start].sqrt() * upsampled + (1 - ab[start]).sqrt() * noise_like(upsampled, generators)
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


@dataclass
class TrainedPyramid:
    """One trained model: its denoiser and what sampling needs to know about its images."""

    denoiser: SinDDMDenoiser
    sources: tuple[str, ...]
    label: int
    sizes: tuple[tuple[int, int], ...]
    losses: list[float]
    coarsest: torch.Tensor  # n_images×1×h0×w0 in [-1, 1], to name the nearest source

    def sample(
        self,
        gens: list[torch.Generator],
        *,
        timesteps: int,
        loss_factor: float,
        gamma_clamp: float,
        scale_hw: tuple[float, float],
    ) -> tuple[torch.Tensor, list[str]]:
        """One sample per generator, coarse to fine, at the finest size × ``scale_hw``
        (``B×1×h×w`` in [-1, 1]), and the name of each sample's nearest source."""
        schedule = DiffusionSchedule.cosine(timesteps)
        gammas = blur_gammas(schedule, self.losses, loss_factor)
        starts = start_steps(schedule, self.losses, loss_factor)
        x = sample_coarsest(self.denoiser, schedule, _scaled(self.sizes[0], scale_hw), gens)
        names = self.nearest_sources(x)
        for s in range(1, len(self.sizes)):
            up = resize(x, _scaled(self.sizes[s], scale_hw), mode="bilinear")
            x = sample_finer(
                self.denoiser,
                schedule,
                up,
                scale=s,
                start=starts[s - 1],
                gammas=gammas[s - 1],
                gamma_clamp=gamma_clamp,
                generators=gens,
            )
        return x, names

    def nearest_sources(self, coarse: torch.Tensor) -> list[str]:
        """The group image closest (mean squared error at the coarsest scale) to each sample;
        for a single-image model simply its image."""
        if len(self.sources) == 1:
            return [self.sources[0]] * coarse.shape[0]
        ref = self.coarsest
        x = resize(coarse, tuple(ref.shape[-2:]))
        dist = ((x[:, None] - ref[None]) ** 2).flatten(2).mean(2)
        return [self.sources[int(j)] for j in dist.argmin(1)]


def _scaled(size: tuple[int, int], scale_hw: tuple[float, float]) -> tuple[int, int]:
    return max(1, int(size[0] * scale_hw[0])), max(1, int(size[1] * scale_hw[1]))
