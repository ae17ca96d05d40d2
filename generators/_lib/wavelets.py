"""Wavelet transforms on image batches: the à trous (starlet) transform and a Haar DWT.

À trous / starlet (Starck & Murtagh; seed 000 §2.2, Eq. 8–10): ``S⁽⁰⁾ = x``, ``S⁽ˢ⁾`` is
``S⁽ˢ⁻¹⁾`` convolved with the separable B3-spline kernel ``[1, 4, 6, 4, 1]/16`` dilated by
``2^(s−1)`` ("holes" between taps, no subsampling), and the wavelet planes are
``WP⁽ˢ⁾ = S⁽ˢ⁻¹⁾ − S⁽ˢ⁾``. By telescoping, ``x = Σ_s WP⁽ˢ⁾ + S⁽ˢ⁾`` exactly. Borders are
mirrored (whole-sample symmetric, ``… 2 1 | 0 1 2 …``), for any image size.

Haar DWT: the standard decimated, orthonormal 2-D transform (the seed's DWT baseline for the
CW-SSIM comparison of Fig. 4); each level halves the resolution and yields three detail
sub-bands (horizontal, vertical, diagonal); :func:`haar_idwt` inverts it exactly.

All functions take ``B×C×H×W`` float tensors and are differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

B3_SPLINE = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)


def mirror_indices(size: int, pad: int, device: torch.device | None = None) -> Tensor:
    """Indices ``0..size−1`` extended by ``pad`` on each side by whole-sample mirroring.

    Works for any ``pad`` (the pattern repeats with period ``2·(size−1)``).
    """
    idx = torch.arange(-pad, size + pad, device=device)
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= size, period - idx, idx)


def b3_smooth(x: Tensor, dilation: int) -> Tensor:
    """Separable B3-spline smoothing of ``x`` (``B×C×H×W``) with holes of ``dilation``."""
    channels = x.shape[1]
    taps = torch.tensor(B3_SPLINE, dtype=x.dtype, device=x.device)
    pad = 2 * dilation
    h, w = x.shape[-2:]
    x = x.index_select(-1, mirror_indices(w, pad, x.device))
    kernel = taps.view(1, 1, 1, 5).expand(channels, 1, 1, 5)
    x = F.conv2d(x, kernel, dilation=(1, dilation), groups=channels)
    x = x.index_select(-2, mirror_indices(h, pad, x.device))
    kernel = taps.view(1, 1, 5, 1).expand(channels, 1, 5, 1)
    return F.conv2d(x, kernel, dilation=(dilation, 1), groups=channels)


def atrous_decompose(x: Tensor, scales: int = 4) -> tuple[list[Tensor], Tensor]:
    """Starlet transform of ``x`` (``B×C×H×W``).

    Returns ``(planes, coarse)``: ``scales`` wavelet planes ``WP⁽¹⁾…WP⁽ˢ⁾`` (finest first)
    and the residual smooth image ``S⁽ˢ⁾``, all ``B×C×H×W`` like ``x``.
    """
    if scales < 1:
        raise ValueError(f"scales must be at least 1, got {scales}")
    planes, smooth = [], x
    for s in range(1, scales + 1):
        smoother = b3_smooth(smooth, 2 ** (s - 1))
        planes.append(smooth - smoother)
        smooth = smoother
    return planes, smooth


def atrous_reconstruct(planes: list[Tensor], coarse: Tensor) -> Tensor:
    """Inverse of :func:`atrous_decompose`: ``Σ planes + coarse``."""
    return coarse + torch.stack(planes).sum(0)


def wavelet_planes(x: Tensor, scales: int = 4) -> Tensor:
    """The feature set ``f = {WP⁽¹⁾ … WP⁽ˢ⁾}`` of seed 000 Eq. 10 for 1-channel images.

    ``x``: ``B×1×H×W``; returns ``B×S×H×W`` (channel ``s−1`` = plane ``s``).
    """
    planes, _ = atrous_decompose(x, scales)
    return torch.cat(planes, dim=1)


def haar_dwt(x: Tensor) -> tuple[Tensor, Tensor]:
    """One level of the orthonormal 2-D Haar DWT of ``x`` (``B×C×H×W``, H and W even).

    Returns ``(approx, details)``: ``B×C×H/2×W/2`` and ``B×C×3×H/2×W/2``
    (horizontal, vertical, diagonal detail sub-bands).
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"Haar DWT needs even sizes, got {h}×{w}")
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    approx = (a + b + c + d) / 2
    horizontal = (a + b - c - d) / 2
    vertical = (a - b + c - d) / 2
    diagonal = (a - b - c + d) / 2
    return approx, torch.stack([horizontal, vertical, diagonal], dim=2)


def haar_idwt(approx: Tensor, details: Tensor) -> Tensor:
    """Inverse of :func:`haar_dwt`; returns ``B×C×2h×2w``."""
    horizontal, vertical, diagonal = details.unbind(2)
    a = (approx + horizontal + vertical + diagonal) / 2
    b = (approx + horizontal - vertical - diagonal) / 2
    c = (approx - horizontal + vertical - diagonal) / 2
    d = (approx - horizontal - vertical + diagonal) / 2
    n, ch, h, w = approx.shape
    out = approx.new_empty(n, ch, 2 * h, 2 * w)
    out[..., 0::2, 0::2], out[..., 0::2, 1::2] = a, b
    out[..., 1::2, 0::2], out[..., 1::2, 1::2] = c, d
    return out


def haar_decompose(x: Tensor, levels: int) -> tuple[list[Tensor], Tensor]:
    """``levels``-level decimated Haar DWT: ``(details finest first, approx)``.

    Level ``s`` details are ``B×C×3×H/2ˢ×W/2ˢ``; H and W must be divisible by ``2^levels``.
    """
    details, approx = [], x
    for _ in range(levels):
        approx, d = haar_dwt(approx)
        details.append(d)
    return details, approx


def haar_reconstruct(details: list[Tensor], approx: Tensor) -> Tensor:
    """Inverse of :func:`haar_decompose`."""
    for d in reversed(details):
        approx = haar_idwt(approx, d)
    return approx


def dwt_planes(x: Tensor, levels: int = 4) -> Tensor:
    """DWT counterpart of :func:`wavelet_planes` for the encoder ablation.

    ``x``: ``B×1×H×W``; returns ``B×3S×H×W``: the detail sub-bands of each level, brought
    back to full size by nearest-neighbour repetition (each coefficient covers the
    ``2ˢ×2ˢ`` block it was computed from), so the decimation stays visible.
    """
    details, _ = haar_decompose(x, levels)
    full = []
    for s, d in enumerate(details, start=1):
        flat = d.flatten(1, 2)  # B×3×h×w (C = 1)
        full.append(flat.repeat_interleave(2**s, -2).repeat_interleave(2**s, -1))
    return torch.cat(full, dim=1)
