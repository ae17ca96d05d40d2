"""Label-map conditioning of a diffusers UNet as the Semantic Diffusion Model does it.

SDM (Wang et al. 2022, "Semantic Image Synthesis via Diffusion Models"), which seed 002
puts its B-map scheduler into, feeds the noisy image to the encoder only and injects the
label map into the decoder through spatially-adaptive normalisation (SPADE, Park et al.
2019): a residual block's normalisation becomes

    h ← GroupNorm(h) · (1 + γ(m)) + β(m),

with ``γ, β`` predicted per pixel by small convolutions from the one-hot label map ``m``
resized (nearest) to the feature map. :func:`inject_layout` swaps the two GroupNorms of
every residual block of the UNet's middle and up blocks for :class:`SpatialNorm`; the
``γ, β`` convolutions start at zero, so an untrained injection is the plain UNet.

Classifier-free guidance as SDM: during training the label map of a row is replaced by the
empty map (all zeros) with probability ``drop_rate``; when sampling,
``ε̂ = ε(x | ∅) + s · (ε(x | m) − ε(x | ∅))`` with guidance scale ``s`` (``s = 1``: no
guidance, one network pass).

Shapes: masks ``B×H×W`` int64 class indices → layouts ``B×K×H×W`` float one-hot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def one_hot_layout(masks: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``B×H×W`` int64 → ``B×K×H×W`` float32 one-hot."""
    return F.one_hot(masks.long(), n_classes).permute(0, 3, 1, 2).float()


@dataclass(frozen=True)
class Conditioning:
    """What a label-map-conditioned denoiser is given besides ``x_t`` and ``t``.

    labels: ``B`` int64 class indices, or ``None`` (no class embedding).
    layouts: ``B×K×H×W`` one-hot label maps (a zero row is the empty map ∅).
    It stands where the training loop passes labels, so it moves like a tensor (``.to``).
    """

    labels: torch.Tensor | None
    layouts: torch.Tensor

    def to(self, device) -> Conditioning:
        labels = None if self.labels is None else self.labels.to(device)
        return Conditioning(labels, self.layouts.to(device))

    def dropped(self, rate: float, generator: torch.Generator) -> Conditioning:
        """Each row's layout replaced by ∅ with probability ``rate`` (from ``generator``)."""
        if rate <= 0:
            return self
        keep = torch.rand(self.layouts.shape[0], generator=generator) >= rate
        keep = keep.to(self.layouts.device)[:, None, None, None]
        return Conditioning(self.labels, self.layouts * keep)


class SpatialNorm(nn.Module):
    """SPADE in place of a GroupNorm: ``norm(h)·(1+γ(m)) + β(m)``; ``m`` set before forward.

    ``hidden`` channels in the shared convolution (SPADE uses 128; a config value).
    """

    def __init__(self, norm: nn.GroupNorm, n_classes: int, hidden: int) -> None:
        super().__init__()
        channels = norm.num_channels
        self.norm = nn.GroupNorm(norm.num_groups, channels, eps=norm.eps, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(n_classes, hidden, 3, padding=1), nn.SiLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)
        for conv in (self.gamma, self.beta):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.layout: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.layout is None:
            raise RuntimeError("no label map set: call LayoutInjection.set(layouts) first")
        m = F.interpolate(self.layout, size=h.shape[-2:], mode="nearest")
        features = self.shared(m)
        return self.norm(h) * (1 + self.gamma(features)) + self.beta(features)


class LayoutInjection:
    """The :class:`SpatialNorm` modules put into a UNet, and the layout they read.

    Not an ``nn.Module``: the norms are registered once, inside the UNet, so the state
    dict holds each weight once.
    """

    def __init__(self, norms: Sequence[SpatialNorm]) -> None:
        self.norms = list(norms)

    def set(self, layouts: torch.Tensor | None) -> None:
        """The ``B×K×H×W`` layouts of the next forward pass (``None`` clears them)."""
        for norm in self.norms:
            norm.layout = layouts


def inject_layout(unet: nn.Module, n_classes: int, hidden: int) -> LayoutInjection:
    """Swap the GroupNorms of the decoder's residual blocks (middle + up) for SPADE."""
    norms = []
    for block in [unet.mid_block, *unet.up_blocks]:
        for resnet in block.resnets:
            for attr in ("norm1", "norm2"):
                spade = SpatialNorm(getattr(resnet, attr), n_classes, hidden)
                setattr(resnet, attr, spade)
                norms.append(spade)
    return LayoutInjection(norms)


def guided_noise(predict, x: torch.Tensor, t: torch.Tensor, cond: Conditioning, scale: float):
    """ε̂ with classifier-free guidance; ``predict(x, t, cond)`` is one network pass."""
    if scale == 1.0:
        return predict(x, t, cond)
    empty = Conditioning(cond.labels, torch.zeros_like(cond.layouts))
    both = Conditioning(
        None if cond.labels is None else torch.cat([cond.labels, cond.labels]),
        torch.cat([cond.layouts, empty.layouts]),
    )
    eps_cond, eps_empty = predict(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)
    return eps_empty + scale * (eps_cond - eps_empty)
