"""CW-SSIM (Wang & Simoncelli, ICASSP 2005): structural similarity in a complex wavelet domain.

For complex coefficient patches ``c_x``, ``c_y`` of one oriented subband (a ``w×w``
window)::

    S(c_x, c_y) = (2 |Σ c_x c_y*| + K) / (Σ |c_x|² + Σ |c_y|² + K)

S is 1 iff the coefficients agree up to a common phase, so small translations (a phase
shift of the complex coefficients) cost little while noise and blur cost a lot.

The default (``transform=steerable``) is the paper's complex steerable pyramid, computed
exactly as pyiqa's ``cw_ssim`` (itself a port of Sampat et al.'s MATLAB ``cwssim_index``)
computes it at its defaults, so numbers are comparable with papers that used pyiqa:

* the image (gray, ×255 and rounded to integers, which is what pyiqa compares for an RGB
  tensor or an image file: the Y channel of a gray image at 8 bits) is decomposed by a
  4-level, 8-orientation complex steerable pyramid (:mod:`.._lib.steerable_pyramid`);
* only the 8 subbands of level 4 (1/8 of the image size) are compared, over every valid
  7×7 window (no guard band), with ``K = 0`` and pyiqa's ``1e-12`` inside every magnitude;
* each subband's index map is pooled with a Gaussian weight (σ = a quarter of the subband
  height, normalised to sum 1), then the 8 orientations are averaged.

``transform=dtcwt`` keeps the dual-tree complex wavelet variant of earlier versions
(:mod:`.._lib.cwssim_dtcwt`): other filters, levels averaged, other values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from usbench.metrics._lib.cwssim_dtcwt import DTCWT_VARIANT, cw_ssim_dtcwt
from usbench.metrics._lib.pairing import pair_with_real
from usbench.metrics._lib.steerable_pyramid import max_levels, steerable_subbands
from usbench.protocols import EvalInputs, Metric, MetricKind, MetricResult, MetricUnavailable

MAGNITUDE_EPS = 1e-12
"""Added under every square root of a magnitude, as pyiqa does (``sqrt(re² + im² + ε)``)."""

_DEFAULT_K = {"steerable": 0.0, "dtcwt": 1e-6}
_PAIRING = "source, else nearest-train (pixel L2)"


@dataclass(frozen=True)
class CWSSIMConfig:
    """Settings of ``cw-ssim``.

    transform: steerable = complex steerable pyramid (Wang & Simoncelli 2005), equal to
        pyiqa's cw_ssim at its defaults; dtcwt = the dual-tree complex wavelet variant of
        earlier versions (other filters, other values).
    levels: steerable: height of the pyramid; only its coarsest level (1/2^(levels-1) of the
        image size) is compared, so images need at least 2^(levels+2) px a side.
        dtcwt: the number of finest levels averaged [>= 1].
    orientations: steerable only: oriented subbands per level (the DTCWT always has 6) [>= 1].
    window: side of the square window of the local index (valid positions only) [>= 1].
    k: the small constant K; none = the transform's own (steerable 0 as pyiqa, dtcwt 1e-6)
        [>= 0].
    input_range: steerable only: 255 = gray x255 rounded to integers (what pyiqa compares
        for an RGB tensor or an image file: the 8-bit Y channel); 1 = the [0, 1] values as
        they are (pyiqa given a one-channel tensor; its 1e-12 then weighs more).
    """

    transform: Literal["steerable", "dtcwt"] = "steerable"
    levels: int = 4
    orientations: int = 8
    window: int = 7
    k: float | None = None
    input_range: Literal["255", "1"] = "255"

    def __post_init__(self) -> None:
        if self.levels < 1 or self.window < 1 or self.orientations < 1:
            raise ValueError("levels, orientations and window must be at least 1")
        if self.transform == "dtcwt" and (self.orientations != 8 or self.input_range != "255"):
            raise ValueError("orientations and input_range apply to transform=steerable only")

    @property
    def constant(self) -> float:
        """K in effect: ``k`` or the transform's default."""
        return _DEFAULT_K[self.transform] if self.k is None else self.k


def gaussian_pooling(height: int, width: int, sigma: float) -> torch.Tensor:
    """``height×width`` Gaussian weights centred on the map, summing to 1 (MATLAB fspecial:
    values below ``eps × max`` are zeroed)."""
    rows = np.arange(height) - (height - 1) / 2
    cols = np.arange(width) - (width - 1) / 2
    weights = np.exp(-(rows[:, None] ** 2 + cols[None, :] ** 2) / (2 * sigma**2))
    weights[weights < np.finfo(weights.dtype).eps * weights.max()] = 0
    return torch.from_numpy(weights / weights.sum())


def _window_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over every ``window×window`` patch of ``N×O×h×w`` real (valid positions)."""
    n, o, h, w = x.shape
    if window > min(h, w):
        raise ValueError(
            f"the compared subbands are {h}×{w}, smaller than the {window}×{window} window: "
            "use larger images, fewer levels or a smaller window"
        )
    means = F.avg_pool2d(x.reshape(n * o, 1, h, w), window, stride=1)
    return means.reshape(n, o, h - window + 1, w - window + 1)


def cw_ssim_steerable(
    x: torch.Tensor, y: torch.Tensor, config: CWSSIMConfig = CWSSIMConfig()
) -> np.ndarray:
    """Steerable-pyramid CW-SSIM of each pair of ``N×1×H×W`` [0,1] images → ``N`` float64."""
    height, width = x.shape[-2:]
    if config.levels > max_levels(height, width):
        raise ValueError(
            f"cw-ssim: {height}×{width} images allow at most {max_levels(height, width)} "
            f"steerable-pyramid levels, not {config.levels}: score images of at least "
            f"{2 ** (config.levels + 2)} px a side, or choose "
            f"cw-ssim:levels={max(1, max_levels(height, width))}"
        )
    scale = 255.0 if config.input_range == "255" else 1.0
    bands = [
        steerable_subbands(
            _to_range(img, scale), level=config.levels, orientations=config.orientations
        )
        for img in (x, y)
    ]
    bx, by = bands
    cross = bx * by.conj()
    window = config.window
    cross_mean = torch.complex(_window_mean(cross.real, window), _window_mean(cross.imag, window))
    energy = bx.real**2 + bx.imag**2 + by.real**2 + by.imag**2 + 2 * MAGNITUDE_EPS
    energy_mean = _window_mean(energy, window)
    k = config.constant
    index = (2 * torch.sqrt(cross_mean.abs() ** 2 + MAGNITUDE_EPS) + k) / (energy_mean + k)
    weights = gaussian_pooling(*index.shape[-2:], sigma=bx.shape[-2] / 4)
    return (index * weights).sum(dim=(-2, -1)).mean(dim=1).numpy()


def _to_range(images: torch.Tensor, scale: float) -> torch.Tensor:
    gray = images[:, 0].double() * scale
    return gray.round() if scale == 255.0 else gray


def cw_ssim(x: torch.Tensor, y: torch.Tensor, config: CWSSIMConfig = CWSSIMConfig()) -> np.ndarray:
    """CW-SSIM of each pair of ``N×1×H×W`` [0,1] images → ``N`` float64 (higher = closer)."""
    if config.transform == "dtcwt":
        return cw_ssim_dtcwt(x, y, levels=config.levels, window=config.window, k=config.constant)
    return cw_ssim_steerable(x, y, config)


class CWSSIM(Metric):
    """Complex-wavelet SSIM between each sample and its real counterpart (higher = closer)."""

    name: ClassVar[str] = "cw-ssim"
    kind: ClassVar[MetricKind] = MetricKind.PAIRED
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    Config: ClassVar[type] = CWSSIMConfig

    def variant(self) -> dict[str, Any]:
        cfg = self.config
        if cfg.transform == "dtcwt":  # the identity stored by earlier versions, unchanged
            return {
                "transform": DTCWT_VARIANT,
                "levels": cfg.levels,
                "window": cfg.window,
                "K": cfg.constant,
                "pairing": _PAIRING,
            }
        return {
            "transform": f"complex steerable pyramid, level {cfg.levels} of {cfg.levels}",
            "levels": cfg.levels,
            "orientations": cfg.orientations,
            "window": cfg.window,
            "K": cfg.constant,
            "epsilon": MAGNITUDE_EPS,
            "pooling": "gaussian sigma=h/4, mean over orientations",
            "input": "gray x255 rounded" if cfg.input_range == "255" else "gray [0, 1]",
            "pairing": _PAIRING,
        }

    def compute(self, inputs: EvalInputs) -> MetricResult:
        self._check_size(*inputs.generated.images.shape[-2:])
        real, pairing = pair_with_real(inputs)
        values = cw_ssim(inputs.generated.images, real, self.config)
        return MetricResult.of_samples(values, seed=inputs.seed, details={"pairing": pairing})

    def _check_size(self, height: int, width: int) -> None:
        """Too small for the pyramid: unavailable, with the variants that would fit."""
        cfg, fits = self.config, max_levels(height, width)
        if cfg.transform != "steerable" or cfg.levels <= fits:
            return
        smaller = f"cw-ssim:levels={fits} (another variant) or " if fits >= 1 else ""
        raise MetricUnavailable(
            f"{height}×{width} images are too small for a {cfg.levels}-level steerable pyramid.",
            f"score images of at least {2 ** (cfg.levels + 2)} px a side, or use "
            f"{smaller}cw-ssim:transform=dtcwt",
        )
