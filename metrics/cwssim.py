"""CW-SSIM (Wang & Simoncelli 2005) on the dual-tree complex wavelet transform, paired.

For coefficient patches ``c_x``, ``c_y`` of one subband (a ``w×w`` window)::

    S(c_x, c_y) = (2 |Σ c_x c_y*| + K) / (Σ |c_x|² + Σ |c_y|² + K)

The map of S over every window position is averaged per subband, then over the 6
orientations and the ``levels`` finest levels of the DTCWT (``dtcwt`` package, near_sym_a
/ qshift_a filters, through :mod:`usbench.metrics._lib.dtcwt_compat` under numpy 2). Window 7×7 (the
whole subband when smaller), ``K = 1e-6`` (so two all-zero windows, e.g. outside the
ultrasound fan, count as identical instead of 0/0). Range [0, 1]; 1 iff the coefficients
agree up to a common phase in every window. pyiqa's ``cw_ssim`` uses a complex steerable
pyramid (8 orientations, one scale) instead, so its numbers differ (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from usbench.metrics._lib.dtcwt_compat import load_dtcwt
from usbench.metrics._lib.pairing import pair_with_real
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult


def dtcwt_highpasses(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """DTCWT subbands of a batch: per level a complex ``N×h×w×6`` array.

    ``images`` is ``N×H×W`` float64.
    """
    dtcwt = load_dtcwt()
    transform = dtcwt.Transform2d(biort="near_sym_a", qshift="qshift_a")
    per_image = [transform.forward(img, nlevels=levels).highpasses for img in images]
    return [np.stack([hp[level] for hp in per_image]) for level in range(levels)]


def _window_sum(x: torch.Tensor, window: int) -> torch.Tensor:
    """Sum over every ``window×window`` patch of ``B×1×h×w`` (valid positions)."""
    w = min(window, x.shape[-2], x.shape[-1])
    return F.avg_pool2d(x, (w, w), stride=1) * (w * w)


def cw_ssim_subband(cx: np.ndarray, cy: np.ndarray, *, window: int, k: float) -> np.ndarray:
    """Mean CW-SSIM per image for complex subbands ``N×h×w×O`` → ``N`` float64."""
    cx_t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(cx, -1, 1)))  # N×O×h×w
    cy_t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(cy, -1, 1)))
    n, o, h, w = cx_t.shape
    cross = cx_t * cy_t.conj()

    def wsum(t: torch.Tensor) -> torch.Tensor:
        return _window_sum(t.reshape(n * o, 1, h, w), window)

    num = 2.0 * torch.complex(wsum(cross.real), wsum(cross.imag)).abs() + k
    den = wsum(cx_t.abs() ** 2) + wsum(cy_t.abs() ** 2) + k
    return (num / den).reshape(n, o, -1).mean(dim=(1, 2)).numpy()


def cw_ssim(
    x: torch.Tensor, y: torch.Tensor, *, levels: int = 4, window: int = 7, k: float = 1e-6
) -> np.ndarray:
    """CW-SSIM of each pair of ``N×1×H×W`` [0,1] images → ``N`` float64 in [0, 1]."""
    levels = max(1, min(levels, int(np.log2(min(x.shape[-2:]) / 4))))
    hx = dtcwt_highpasses(x[:, 0].double().numpy(), levels)
    hy = dtcwt_highpasses(y[:, 0].double().numpy(), levels)
    per_level = [cw_ssim_subband(a, b, window=window, k=k) for a, b in zip(hx, hy, strict=True)]
    return np.mean(per_level, axis=0)


@dataclass(frozen=True)
class CWSSIMConfig:
    """Settings of ``cw-ssim``.

    levels: DTCWT levels (capped so the coarsest subband keeps at least 4 px) [>= 1].
    window: side of the square window the local CW-SSIM is averaged over [>= 1].
    k: the small positive constant K of Wang & Simoncelli (2005) [> 0].
    """

    levels: int = 4
    window: int = 7
    k: float = 1e-6


class CWSSIM(Metric):
    """Complex-wavelet SSIM between each sample and its real counterpart (higher = closer)."""

    name: ClassVar[str] = "cw-ssim"
    kind: ClassVar[MetricKind] = MetricKind.PAIRED
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    Config: ClassVar[type] = CWSSIMConfig

    def variant(self) -> dict[str, Any]:
        return {
            "transform": "dtcwt near_sym_a/qshift_a, 6 orientations",
            "levels": self.config.levels,
            "window": self.config.window,
            "K": self.config.k,
            "pairing": "source, else nearest-train (pixel L2)",
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        real, pairing = pair_with_real(inputs)
        cfg = self.config
        values = cw_ssim(
            inputs.generated.images, real, levels=cfg.levels, window=cfg.window, k=cfg.k
        )
        return MetricResult.of_samples(values, seed=inputs.seed, details={"pairing": pairing})
