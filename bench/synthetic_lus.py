"""A small synthetic convex lung ultrasound scene with a known pleura and known B-lines.

Independent of the procedural phantom, it validates the line detector of
:mod:`usbench.metrics._lib.lines` and the geometry code on scenes whose truth is exact:
tissue above a bright pleural arc, dim attenuated lung below, radial B-lines from the
pleura down, and Rayleigh speckle. Geometry constants are in pixels of a ``SIZE×SIZE`` image.
"""

from __future__ import annotations

import numpy as np

from usbench.metrics._lib.fan_geometry import synthetic_fan_mask
from usbench.metrics._lib.synthetic_speckle import speckled_image

SIZE = 64
APEX = (-20.0, 31.5)
RADII = (24.0, 82.0)
HALF_ANGLE = 0.6
PLEURA = 0.25


def lus_scene(
    rng: np.random.Generator, n_blines: int, *, noise: float = 0.0, gap: bool = False
) -> tuple[np.ndarray, list[float]]:
    """``SIZE×SIZE`` float32 image in [0,1] and the B-line angles (rad, sorted).

    Tissue above the pleura, a bright pleural arc at depth ``PLEURA``, dim attenuated lung
    below, ``n_blines`` radial bright bands from the pleura down, Rayleigh speckle and
    optional additive Gaussian ``noise``. ``gap`` consolidates the left third: no pleural
    line there and tissue-like echoes below it.
    """
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    theta = np.arctan2(xx - APEX[1], yy - APEX[0])
    depth = (np.hypot(yy - APEX[0], xx - APEX[1]) - RADII[0]) / (RADII[1] - RADII[0])
    echo = np.where(depth < PLEURA, 1.0, 0.5 * np.exp(-1.5 * (depth - PLEURA)))
    pleura = 4.0 * np.exp(-0.5 * ((depth - PLEURA) / 0.012) ** 2)
    if gap:  # consolidated left third: no pleural line, tissue-like lung below
        lost = theta <= -HALF_ANGLE / 3
        pleura = np.where(lost, 0.0, pleura)
        echo = np.where(lost, 1.0, echo)
    echo = echo + pleura
    angles: list[float] = []
    while len(angles) < n_blines:
        candidate = rng.uniform(-HALF_ANGLE + 0.12, HALF_ANGLE - 0.12)
        if all(abs(candidate - a) > 0.15 for a in angles):
            angles.append(candidate)
    below = (depth > PLEURA) * np.exp(-0.5 * (depth - PLEURA))
    for angle in angles:
        echo = echo + 2.0 * np.exp(-0.5 * ((theta - angle) / 0.03) ** 2) * below
    mask = synthetic_fan_mask((SIZE, SIZE), APEX, RADII, HALF_ANGLE)
    image = speckled_image(echo * mask, rng, cell=0.7, scale=0.2)
    image = image + noise * rng.standard_normal(image.shape) * mask
    return np.clip(image, 0.0, 1.0).astype(np.float32), sorted(angles)
