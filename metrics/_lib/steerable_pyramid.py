"""Complex steerable pyramid (Portilla & Simoncelli 2000) in the Fourier domain, in torch.

The construction of matlabPyrTools' ``buildSCFpyr`` (and of its ports in pyPyrTools and
pyiqa): the image's centred DFT is split by a raised-cosine radial high-pass / low-pass
pair, then at every level the low-pass part is cut into ``orientations`` oriented
band-pass subbands whose angular masks keep one half-plane only (so each subband is
complex, an analytic signal), and is then decimated by 2 in each direction by cropping
its DFT. Masks are the lookup tables of the MATLAB code read by linear interpolation
(``np.interp``, MATLAB's ``pointOp``), so the coefficients are those of the reference
implementations, not an approximation of them.

Only the oriented subbands of one level are returned (what CW-SSIM uses); the decimation
scales the coefficients of coarser levels by 4 per level, as in the references.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_RADIAL_TABLE_SIZE = 256  # matlabPyrTools rcosFn's table
_ANGULAR_TABLE_SIZE = 1024  # matlabPyrTools buildSCFpyrLevs' lutsize


def max_levels(height: int, width: int) -> int:
    """The most levels a ``height×width`` image allows (coarsest subband ≥ 8 px wide)."""
    return int(math.floor(math.log2(min(height, width)))) - 2


def _frequency_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``log2`` radius and angle of every bin of a centred ``height×width`` DFT.

    Frequencies run over [-1, 1) on both axes; the zero-frequency radius borrows its left
    neighbour's value so that its logarithm is finite.
    """
    rows = (np.arange(height) - height // 2) / (height / 2)
    cols = (np.arange(width) - width // 2) / (width / 2)
    col_f, row_f = np.meshgrid(cols, rows)
    angle = np.arctan2(row_f, col_f)
    radius = np.sqrt(col_f**2 + row_f**2)
    radius[height // 2, width // 2] = radius[height // 2, width // 2 - 1]
    return np.log2(radius), angle


def _radial_transition() -> tuple[np.ndarray, np.ndarray]:
    """Abscissae (log2 radius) and high-pass values of the raised-cosine transition.

    One octave wide, centred half an octave below the Nyquist radius; the high-pass is
    ``|cos|`` of the table's phase, the matching low-pass ``sqrt(1 - high²)``.
    """
    n = _RADIAL_TABLE_SIZE
    phase = np.pi * np.arange(-n - 1, 2) / (2 * n)
    squared = np.cos(phase) ** 2
    squared[0], squared[n + 2] = squared[1], squared[n + 1]
    position = -0.5 + (2 / np.pi) * (phase + np.pi / 4)
    return position, np.sqrt(squared)


def _angular_table(orientations: int) -> tuple[np.ndarray, np.ndarray]:
    """Abscissae (angle) and values of the one-sided ``cos^(orientations-1)`` mask."""
    order = orientations - 1
    const = (2 ** (2 * order)) * math.factorial(order) ** 2
    const /= orientations * math.factorial(2 * order)
    n = _ANGULAR_TABLE_SIZE
    angles = np.pi * np.arange(-(2 * n + 1), n + 2) / n
    wrapped = (angles + np.pi) % (2 * np.pi) - np.pi
    values = 2 * np.sqrt(const) * np.cos(angles) ** order * (np.abs(wrapped) < np.pi / 2)
    return angles, values


def _half_size_crop(dims: np.ndarray) -> tuple[slice, slice]:
    """The centred DFT window that keeps the lower half of the frequencies."""
    start = np.ceil((dims + 0.5) / 2) - np.ceil((np.ceil((dims - 0.5) / 2) + 0.5) / 2)
    stop = start + np.ceil((dims - 0.5) / 2)
    start, stop = start.astype(int), stop.astype(int)
    return slice(start[0], stop[0]), slice(start[1], stop[1])


def steerable_subbands(images: torch.Tensor, *, level: int, orientations: int) -> torch.Tensor:
    """Complex oriented subbands of pyramid level ``level`` (1 = finest) of every image.

    ``images``: ``N×H×W`` real (float64 recommended). Returns ``N×O×h×w`` complex, ``O =
    orientations``, ``h×w`` the image size halved ``level - 1`` times (rounded up). Raises
    ``ValueError`` when the image is too small for ``level`` (see :func:`max_levels`).
    """
    height, width = images.shape[-2:]
    if not 1 <= level <= max_levels(height, width):
        raise ValueError(
            f"a {height}×{width} image allows steerable-pyramid levels 1 to "
            f"{max_levels(height, width)}, not {level}"
        )
    log_rad, angle = _frequency_grid(height, width)
    position, high = _radial_transition()
    low = np.sqrt(1 - high**2)
    dft = torch.fft.fftshift(torch.fft.fft2(images), dim=(-2, -1))
    dft = dft * _as_mask(np.interp(log_rad, position, low), images)
    for _ in range(level - 1):
        position = position - 1
        rows, cols = _half_size_crop(np.array(dft.shape[-2:]))
        log_rad, angle = log_rad[rows, cols], angle[rows, cols]
        dft = dft[..., rows, cols] * _as_mask(np.interp(log_rad, position, low), images)
    high_mask = np.interp(log_rad, position - 1, high)
    table_angles, table_values = _angular_table(orientations)
    phase = (-1j) ** (orientations - 1)  # turns each half-plane filter into an analytic one
    bands = []
    for b in range(orientations):
        oriented = np.interp(angle, table_angles + np.pi * b / orientations, table_values)
        band_dft = dft * _as_mask(oriented * high_mask, images) * phase
        bands.append(torch.fft.ifft2(torch.fft.ifftshift(band_dft, dim=(-2, -1))))
    return torch.stack(bands, dim=1)


def _as_mask(mask: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(mask).to(device=like.device, dtype=torch.float64)
