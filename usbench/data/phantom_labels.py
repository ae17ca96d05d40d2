"""The ground-truth anatomy of a ``lus-phantom`` image as a segmentation label map.

Computed on the scan grid from the same quantities that draw the image (no rng), then
scan-converted with nearest-neighbour sampling, so a label never blends two classes.
Classes (:data:`LABEL_NAMES`, index = value), later ones drawn over earlier ones:

0 outside the imaged region; 1 soft tissue (chest wall above the pleura); 3 aerated lung
(below the pleura); 4 A-line (within two band widths of an A-line's centre, where no
B-line erases it); 5 B-line (B-line weight > 0.5 below the pleura); 2 pleura (within 2.5
band widths of the pleural line); 6 rib and its acoustic shadow.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from usbench.data.phantom_anatomy import Anatomy, PhantomParams, scan_coordinates, scan_grid

LABEL_NAMES = ("outside", "soft tissue", "pleura", "lung", "A-line", "B-line", "rib + shadow")
PLEURA_HALF_WIDTH = 2.5 * 0.0045  # the pleura band of the anatomy has σ = 0.0045


def label_scan(params: PhantomParams, parts: Anatomy) -> np.ndarray:
    """Label of every scan-grid cell (depth × line), int64 (never 0: all inside)."""
    z, s = scan_grid(params)
    pz, zp = parts.pleura_z, params.pleura_depth
    labels = np.where(z >= pz, 3, 1)
    for k, d in enumerate(parts.a_depths):
        centre = d + 0.5 * (pz - zp)
        near = np.abs(z - centre) < 2.0 * 0.006 * (1 + 0.5 * k)
        labels = np.where(near & (parts.b_cover < 0.25) & (z >= pz), 4, labels)
    labels = np.where((parts.b_cover > 0.5) & (z > pz + 0.003), 5, labels)
    labels = np.where(np.abs(z - pz) < PLEURA_HALF_WIDTH, 2, labels)
    for centre, half in parts.ribs:
        u = (s - centre) / half
        top = zp - 0.06 + 0.025 * u**2
        labels = np.where((np.abs(u) < 1.0) & (z >= top - 0.012), 6, labels)
    return labels.astype(np.int64)


def label_map(params: PhantomParams, parts: Anatomy) -> np.ndarray:
    """``size×size`` int64 label map of the image (values index :data:`LABEL_NAMES`)."""
    rows, cols, inside = scan_coordinates(params)
    scan = label_scan(params, parts)
    image = ndimage.map_coordinates(scan, [rows, cols], order=0, mode="nearest")
    return np.where(inside, image, 0).astype(np.int64)
