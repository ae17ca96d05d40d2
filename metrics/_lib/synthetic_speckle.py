"""Synthetic speckle with known statistics, for validating speckle-aware metrics.

Fully developed speckle: the echo is the sum of many random scatterer contributions, so
the complex (IQ) signal is circular Gaussian and its envelope is Rayleigh distributed,
with speckle SNR ``mean/std = sqrt(pi/(4-pi)) ≈ 1.913`` and Nakagami ``m = 1``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RAYLEIGH_SNR = float(np.sqrt(np.pi / (4.0 - np.pi)))


def rayleigh_envelope(
    shape: tuple[int, int], rng: np.random.Generator, *, cell: float = 0.0
) -> np.ndarray:
    """Rayleigh envelope ``H×W`` float64 with unit mean square (``E[A²] = 1``).

    ``cell`` > 0 correlates neighbouring pixels by Gaussian filtering the complex field
    with that sigma (in pixels) before taking its magnitude, like a point-spread
    function does; the envelope stays Rayleigh pixel-wise.
    """
    field = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    if cell > 0:
        field = ndimage.gaussian_filter(field.real, cell) + 1j * ndimage.gaussian_filter(
            field.imag, cell
        )
    envelope = np.abs(field)
    return envelope / np.sqrt(np.mean(envelope**2))


def speckled_image(
    echogenicity: np.ndarray, rng: np.random.Generator, *, cell: float = 0.0, scale: float = 0.25
) -> np.ndarray:
    """Linear-envelope image ``echogenicity × Rayleigh speckle``, clipped into [0, 1].

    ``echogenicity`` is an ``H×W`` map of mean amplitudes; ``scale`` maps amplitude to
    grey level (0.25 keeps clipping of unit-mean-square speckle below 0.1 %).
    Returns float32.
    """
    env = rayleigh_envelope(echogenicity.shape, rng, cell=cell)
    return np.clip(scale * echogenicity * env, 0.0, 1.0).astype(np.float32)
