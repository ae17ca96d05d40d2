"""Imaging geometry of a set of B-mode images: linear rectangle or convex fan.

A convex (curvilinear) probe images a sector: pixels lie at radius ``r`` and angle
``theta`` from an apex above the image, depth is ``r - r_min``, scan lines are rays from
the apex. A linear probe images a rectangle: depth is the row, scan lines are columns.
:func:`estimate_geometry` recovers the geometry from the images themselves (the region
that is ever non-black, and the slopes of its side edges), so the same code works on the
phantom and on any folder of images. :meth:`FanGeometry.scanlines` resamples an image
onto a (depth × scan line) grid where B-lines are vertical and the pleura is horizontal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class FanGeometry:
    """Where the image content lies, in pixel coordinates (row ``y`` down, column ``x``).

    kind: ``"linear"`` or ``"convex"``.
    mask: ``H×W`` bool, inside the imaged region.
    apex: ``(y, x)`` of the convex apex (``y`` may be negative: above the image);
        for linear geometry, ``(top row, centre column)``.
    r_min, r_max: radial extent from the apex (convex) or first/last row (linear).
    theta_min, theta_max: angle range in radians (0 = straight down, positive to the
        right) for convex; the first/last column for linear.
    """

    kind: Literal["linear", "convex"]
    mask: np.ndarray
    apex: tuple[float, float]
    r_min: float
    r_max: float
    theta_min: float
    theta_max: float

    def depth_map(self) -> np.ndarray:
        """``H×W`` float64 depth in [0, 1] (0 = top of the imaged region); NaN outside."""
        h, w = self.mask.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        radius = np.hypot(yy - self.apex[0], xx - self.apex[1]) if self.kind == "convex" else yy
        depth = (radius - self.r_min) / max(self.r_max - self.r_min, 1e-9)
        return np.where(self.mask, np.clip(depth, 0.0, 1.0), np.nan)

    def scanline_coordinates(self, n_depth: int, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel ``(y, x)`` arrays (``n_depth×n_lines``) of the scan-line grid."""
        depth = np.linspace(self.r_min, self.r_max, n_depth)[:, None]
        across = np.linspace(self.theta_min, self.theta_max, n_lines)[None, :]
        if self.kind == "convex":
            return self.apex[0] + depth * np.cos(across), self.apex[1] + depth * np.sin(across)
        return np.broadcast_to(depth, (n_depth, n_lines)), np.broadcast_to(
            across, (n_depth, n_lines)
        )

    def to_pixels(
        self, depth: np.ndarray | float, lateral: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixel ``(y, x)`` of points given as fractions of the imaged depth and width."""
        radius = self.r_min + np.asarray(depth, dtype=np.float64) * (self.r_max - self.r_min)
        across = self.theta_min + np.asarray(lateral, dtype=np.float64) * (
            self.theta_max - self.theta_min
        )
        if self.kind == "convex":
            return self.apex[0] + radius * np.cos(across), self.apex[1] + radius * np.sin(across)
        return np.broadcast_arrays(radius, across)

    def scanlines(self, image: np.ndarray, n_depth: int, n_lines: int) -> np.ndarray:
        """``image`` (``H×W``) resampled to ``n_depth×n_lines`` float64 (bilinear).

        Rows are depth from the top of the imaged region to its bottom, columns scan
        lines from left to right; for a convex probe this undoes the fan. Grid points
        outside the imaged region (a fan cropped by the image border) are NaN.
        """
        ys, xs = self.scanline_coordinates(n_depth, n_lines)
        values = ndimage.map_coordinates(image.astype(np.float64), [ys, xs], order=1)
        inside = ndimage.map_coordinates(self.mask.astype(np.float64), [ys, xs], order=1)
        return np.where(inside > 0.99, values, np.nan)


def content_mask(images: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """``H×W`` bool: pixels whose mean over ``N×H×W`` images exceeds ``threshold``,
    cleaned by a binary opening and reduced to the largest connected region."""
    mask = images.mean(axis=0) > threshold
    mask = ndimage.binary_opening(mask, iterations=1)
    labels, count = ndimage.label(mask)
    if count == 0:
        return np.ones_like(mask)
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    return labels == (1 + int(np.argmax(sizes)))


def estimate_geometry(
    images: np.ndarray, kind: Literal["auto", "linear", "convex"] = "auto"
) -> FanGeometry:
    """Geometry of ``N×H×W`` images in [0,1] (all from one probe).

    ``auto`` chooses convex when the side edges of the content region widen downwards
    and meet above its top (the apex), linear otherwise.
    """
    mask = content_mask(images)
    rows, left, right = _side_edges(mask)
    if rows.size < 4:  # content spans the full width: linear, or a fan cropped to a square
        kind = "linear" if kind == "auto" else kind
        a_l = a_r = b_l = b_r = 0.0
    else:
        (a_l, b_l), (a_r, b_r) = _fit_edge(rows, left), _fit_edge(rows, right)
    if kind == "auto":  # a fan widens downwards from an apex above its top
        widening = a_l < -0.05 and a_r > 0.05
        apex_above = widening and (b_r - b_l) / (a_l - a_r) < float(np.nonzero(mask)[0].min())
        kind = "convex" if apex_above else "linear"
    if kind == "linear" or abs(a_r - a_l) < 1e-6:
        ys, xs = np.nonzero(mask)
        top, bottom = float(ys.min()), float(ys.max())
        return FanGeometry(
            "linear",
            mask,
            (top, (xs.min() + xs.max()) / 2),
            top,
            bottom,
            float(xs.min()),
            float(xs.max()),
        )
    apex_y = (b_r - b_l) / (a_l - a_r)
    apex_x = a_l * apex_y + b_l
    return _convex_from_apex(mask, (float(apex_y), float(apex_x)))


def estimate_geometries(images: np.ndarray, probes: Sequence[str]) -> dict[str, FanGeometry]:
    """One geometry per probe name of ``N×H×W`` images (``""`` = unknown, decided by
    the edges); ``probes`` has one entry per image."""
    out = {}
    for probe in sorted(set(probes)):
        rows = [i for i, p in enumerate(probes) if p == probe]
        kind = probe if probe in ("linear", "convex") else "auto"
        out[probe] = estimate_geometry(images[rows], kind)  # type: ignore[arg-type]
    return out


def best_geometry(image: np.ndarray, geometries: dict[str, FanGeometry]) -> FanGeometry:
    """The geometry whose imaged region best overlaps (IoU) the non-black part of the
    ``H×W`` ``image``; used for generated images, which carry no probe name."""
    if len(geometries) == 1:
        return next(iter(geometries.values()))
    content = ndimage.uniform_filter(image.astype(np.float64), 3) > 0.02

    def iou(geometry: FanGeometry) -> float:
        union = np.logical_or(content, geometry.mask).sum()
        return float(np.logical_and(content, geometry.mask).sum() / max(union, 1))

    return max(geometries.values(), key=iou)


def _side_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows where the content touches neither image side, with first/last column."""
    h, w = mask.shape
    rows = np.nonzero(mask.any(axis=1))[0]
    left = np.array([np.argmax(mask[r]) for r in rows], dtype=np.float64)
    right = np.array([w - 1 - np.argmax(mask[r, ::-1]) for r in rows], dtype=np.float64)
    inside = (left > 0) & (right < w - 1)
    return rows[inside].astype(np.float64), left[inside], right[inside]


def _fit_edge(rows: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """Robust line ``col = a·row + b``: least squares on the longest run of consecutive
    rows, refitted twice without points more than 1.5 px off (arcs at the fan's ends)."""
    if rows.size < 2:
        return 0.0, float(cols.mean()) if cols.size else 0.0
    runs = np.split(np.arange(rows.size), np.nonzero(np.diff(rows) > 1)[0] + 1)
    keep = np.zeros(rows.size, dtype=bool)
    keep[max(runs, key=len)] = True
    a, b = np.polyfit(rows[keep], cols[keep], 1)
    for _ in range(2):
        close = keep & (np.abs(a * rows + b - cols) <= 1.5)
        if close.sum() < 2:
            break
        a, b = np.polyfit(rows[close], cols[close], 1)
    return float(a), float(b)


def _convex_from_apex(mask: np.ndarray, apex: tuple[float, float]) -> FanGeometry:
    ys, xs = np.nonzero(mask)
    radius = np.hypot(ys - apex[0], xs - apex[1])
    theta = np.arctan2(xs - apex[1], ys - apex[0])
    r_lo, r_hi = np.quantile(radius, [0.005, 0.995])
    t_lo, t_hi = np.quantile(theta, [0.005, 0.995])
    return FanGeometry("convex", mask, apex, float(r_lo), float(r_hi), float(t_lo), float(t_hi))


def synthetic_fan_mask(
    shape: tuple[int, int], apex: tuple[float, float], radii: tuple[float, float], half_angle: float
) -> np.ndarray:
    """``H×W`` bool sector with the given apex, radial range and half opening angle."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    radius = np.hypot(yy - apex[0], xx - apex[1])
    theta = np.arctan2(xx - apex[1], yy - apex[0])
    return (radius >= radii[0]) & (radius <= radii[1]) & (np.abs(theta) <= half_angle)
