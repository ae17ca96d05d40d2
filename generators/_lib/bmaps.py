"""B-maps: a per-pixel DDPM noise schedule that mimics echo attenuation with depth.

Seed 002 (Domínguez et al., MICCAI 2024, §2.2–2.3). Each diffusion step ``t`` has a map
``B_t`` (``H×W``) that equals 1 at the probe and falls to a floor with depth, so the bottom
of the image converges to noise before the top. With the scalar DDPM schedule ``α_t``:

* one forward step: ``q(x_t | x_{t-1}) = N(sqrt(α_t·B_t) ⊙ x_{t-1}, (1 − α_t·B_t))``
* marginal: ``q(x_t | x_0) = N(sqrt(ᾱ_t·B̄_t) ⊙ x_0, (1 − ᾱ_t·B̄_t))``, ``B̄_t = Π_{s≤t} B_s``
* posterior ``q(x_{t-1} | x_t, x_0)``: the DDPM one with ``α'_t = α_t·B_t`` per pixel.

Map construction (facts of the official implementation): a scalar schedule ``b[t]`` in
``[0, 1]`` sets the floor ``γ_t = 1 − b[t]·(1 − ε)``; the map ramps linearly in depth from
1 to ``γ_t`` and is then square-rooted. Linear probes ramp from the top row to the bottom
row; convex probes ramp along the radial depth inside a fan whose apex is at the top centre
(radius 250/256 of the width, half-angle 32.1°), and ``B = 1`` outside the fan.
With ``ε = 1`` every map is 1 and everything here reduces exactly to plain DDPM.

Timesteps are 0-based (``t = 0`` is the first noising step), as in diffusers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

BSchedule = Literal["cosine", "sqrt", "linear"]
AlphaSchedule = Literal["cosine", "linear"]
Probe = Literal["linear", "convex"]

#: Fan geometry of the official convex-probe maps, for a 256-px-wide image.
FAN_RADIUS_RATIO = 250.0 / 256.0
FAN_HALF_ANGLE_DEG = 32.1003690834937


def beta_schedule(kind: AlphaSchedule, steps: int) -> Tensor:
    """Scalar DDPM betas, float64 of shape ``(steps,)``.

    ``linear``: Ho et al. 1e-4 → 0.02 rescaled by ``1000/steps``; ``cosine``: Nichol &
    Dhariwal's ``ᾱ(s) = cos²((s + 0.008)/1.008 · π/2)``, betas capped at 0.999 (the same as
    diffusers' ``squaredcos_cap_v2``).
    """
    if kind == "linear":
        scale = 1000.0 / steps
        return torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)
    if kind == "cosine":

        def alpha_bar(s: float) -> float:
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [
            min(1.0 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999)
            for i in range(steps)
        ]
        return torch.tensor(betas, dtype=torch.float64)
    raise ValueError(f"unknown beta schedule {kind!r}; choose 'linear' or 'cosine'")


def b_schedule(kind: BSchedule, steps: int) -> Tensor:
    """Scalar B-map progress ``b[t]`` in ``[0, 1]``, float64 of shape ``(steps,)``.

    ``cosine`` (official default): ``(1 − cos((t + 0.008)/(1.008·T) · π/2))²``;
    ``sqrt`` (the paper's choice): ``sqrt(t/(T − 1))``; ``linear``: ``t/(T − 1)``.
    """
    t = torch.arange(steps, dtype=torch.float64)
    last = max(steps - 1, 1)
    if kind == "cosine":
        phase = (t + 0.008) / (1.008 * steps) * (math.pi / 2)
        return (1.0 - torch.cos(phase)) ** 2
    if kind == "sqrt":
        return torch.sqrt(t / last)
    if kind == "linear":
        return t / last
    raise ValueError(f"unknown B-map schedule {kind!r}; choose 'cosine', 'sqrt' or 'linear'")


def linear_probe_depth(height: int, width: int) -> Tensor:
    """Normalised depth of a linear probe: row ``i`` has depth ``i/(H−1)``; ``H×W`` float64."""
    rows = torch.linspace(0.0, 1.0, height, dtype=torch.float64)
    return rows[:, None].expand(height, width).clone()


def fan_depth(
    height: int,
    width: int,
    *,
    radius_ratio: float = FAN_RADIUS_RATIO,
    half_angle_deg: float = FAN_HALF_ANGLE_DEG,
) -> Tensor:
    """Normalised radial depth inside a convex-probe fan; ``H×W`` float64, −1 outside.

    The apex sits at pixel ``(x = W/2, y = 0)``; the fan opens downwards with half-angle
    ``half_angle_deg`` and radius ``radius_ratio·W``. Pixel ``(x, y)`` (integer indices) has
    depth ``distance/radius`` in ``[0, 1]`` when inside the fan.
    """
    radius = radius_ratio * width
    ys = torch.arange(height, dtype=torch.float64)[:, None]
    xs = torch.arange(width, dtype=torch.float64)[None, :]
    dx, dy = xs - width / 2.0, ys.expand(height, width)
    distance = torch.sqrt(dx**2 + dy**2)
    angle = torch.atan2(dx, dy)
    inside = (angle.abs() <= math.radians(half_angle_deg)) & (distance <= radius)
    return torch.where(inside, distance / radius, torch.full_like(distance, -1.0))


def b_maps(b: Tensor, depth: Tensor, floor_eps: float) -> Tensor:
    """Per-step maps ``B_t``; float64 ``T×1×H×W`` with values in ``[sqrt(ε), 1]``.

    ``b``: ``(T,)`` scalar progress; ``depth``: ``H×W`` normalised depth in ``[0, 1]``
    (negative = outside the imaged region, where ``B = 1``); ``floor_eps``: ε in ``(0, 1]``.
    ``B_t = sqrt(1 − depth·b[t]·(1 − ε))``.
    """
    if not 0.0 < floor_eps <= 1.0:
        raise ValueError(f"B-map floor ε must lie in (0, 1], got {floor_eps}")
    drop = (b.to(torch.float64) * (1.0 - floor_eps))[:, None, None]
    ramp = 1.0 - depth.clamp(min=0.0)[None] * drop
    ramp = torch.where(depth[None] < 0, torch.ones_like(ramp), ramp)
    return torch.sqrt(ramp)[:, None]


def probe_depth(probe: Probe, height: int, width: int) -> Tensor:
    """Depth map for ``probe`` (``linear`` or ``convex``), see :func:`fan_depth`."""
    if probe == "linear":
        return linear_probe_depth(height, width)
    if probe == "convex":
        return fan_depth(height, width)
    raise ValueError(f"unknown probe {probe!r}; choose 'linear' or 'convex'")


@dataclass(frozen=True)
class BMapDiffusion:
    """Closed-form B-map DDPM quantities (all float64, moved to float32 on use).

    ``betas``: ``(T,)``; ``maps``: ``T×1×H×W`` (``B_t``). Derived: ``alphas``,
    ``alpha_bar`` ``(T,)``; ``signal`` = ``ᾱ_t·B̄_t`` ``T×1×H×W`` and ``signal_prev`` (its
    value at ``t−1``, 1 at ``t = 0``).
    """

    betas: Tensor
    maps: Tensor

    @classmethod
    def build(
        cls,
        *,
        steps: int,
        height: int,
        width: int,
        alpha_schedule: AlphaSchedule = "cosine",
        b_kind: BSchedule = "cosine",
        floor_eps: float = 0.97,
        probe: Probe = "linear",
    ) -> BMapDiffusion:
        """Schedule for ``steps`` steps on ``height×width`` images (see module docstring)."""
        depth = probe_depth(probe, height, width)
        maps = b_maps(b_schedule(b_kind, steps), depth, floor_eps)
        return cls(beta_schedule(alpha_schedule, steps), maps)

    @property
    def steps(self) -> int:
        """Number of diffusion steps T."""
        return int(self.betas.shape[0])

    @property
    def alphas(self) -> Tensor:
        """``α_t = 1 − β_t``, ``(T,)``."""
        return 1.0 - self.betas

    @property
    def signal(self) -> Tensor:
        """``ᾱ_t·B̄_t`` per pixel, ``T×1×H×W``."""
        alpha_bar = torch.cumprod(self.alphas, 0)[:, None, None, None]
        return alpha_bar * torch.cumprod(self.maps, 0)

    @property
    def signal_prev(self) -> Tensor:
        """``ᾱ_{t−1}·B̄_{t−1}`` per pixel (1 for ``t = 0``), ``T×1×H×W``."""
        sig = self.signal
        return torch.cat([torch.ones_like(sig[:1]), sig[:-1]])

    def step_signal(self) -> Tensor:
        """``α'_t = α_t·B_t`` per pixel, ``T×1×H×W``."""
        return self.alphas[:, None, None, None] * self.maps

    def tables(self) -> BMapTables:
        """float32 lookup tables for training and sampling."""
        return BMapTables.from_diffusion(self)


@dataclass(frozen=True)
class BMapTables:
    """float32 per-pixel tables indexed by timestep; every field is ``T×1×H×W``.

    ``sqrt_signal`` √(ᾱB̄), ``sqrt_noise`` √(1−ᾱB̄), ``coef_x0``/``coef_xt`` the posterior
    mean coefficients, ``post_var`` the posterior variance.
    """

    sqrt_signal: Tensor
    sqrt_noise: Tensor
    coef_x0: Tensor
    coef_xt: Tensor
    post_var: Tensor

    @classmethod
    def from_diffusion(cls, diffusion: BMapDiffusion) -> BMapTables:
        """Compute every table in float64 and store it as float32."""
        sig, prev, step = diffusion.signal, diffusion.signal_prev, diffusion.step_signal()
        denom = 1.0 - sig
        tables = {
            "sqrt_signal": sig.sqrt(),
            "sqrt_noise": (1.0 - sig).sqrt(),
            "coef_x0": (1.0 - step) * prev.sqrt() / denom,
            "coef_xt": (1.0 - prev) * step.sqrt() / denom,
            "post_var": (1.0 - step) * (1.0 - prev) / denom,
        }
        return cls(**{k: v.to(torch.float32) for k, v in tables.items()})

    def to(self, device: torch.device | str) -> BMapTables:
        """The same tables on ``device``."""
        return BMapTables(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Draw ``x_t ~ q(x_t|x_0)``: ``x0``, ``noise`` ``B×C×H×W``; ``t`` ``(B,)`` int64."""
        return self.sqrt_signal[t] * x0 + self.sqrt_noise[t] * noise

    def predict_x0(self, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """``x̂_0 = (x_t − √(1−ᾱB̄)·ε̂)/√(ᾱB̄)``; shapes as :meth:`q_sample`."""
        return (xt - self.sqrt_noise[t] * eps) / self.sqrt_signal[t]

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of ``q(x_{t−1}|x_t, x_0)``, each ``B×C×H×W``."""
        mean = self.coef_x0[t] * x0 + self.coef_xt[t] * xt
        return mean, self.post_var[t].expand_as(mean)

    def reverse_step(
        self, xt: Tensor, t: int, eps: Tensor, noise: Tensor, *, clip_x0: bool = True
    ) -> Tensor:
        """One ancestral step ``x_t → x_{t−1}`` given the predicted noise ``eps``.

        ``x̂_0`` is clipped to ``[−1, 1]`` when ``clip_x0``; no noise is added at ``t = 0``.
        """
        tt = torch.full((xt.shape[0],), t, dtype=torch.long, device=xt.device)
        x0 = self.predict_x0(xt, tt, eps)
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
        mean, var = self.posterior(x0, xt, tt)
        if t == 0:
            return mean
        return mean + var.clamp(min=1e-20).sqrt() * noise
