"""The ``lus-phantom`` anatomy: its parameters, its ground truth, the scan grid and step 1
of rendering, the echogenicity map (see :mod:`usbench.data.phantom`).

:func:`echogenicity_map` is the scatterer-amplitude (anatomy) map on the scan grid (depth ×
scan line): soft-tissue layers, a bright irregular pleural line, A-line reverberations at
multiples of the pleural depth, B-line comet tails from the pleura to the bottom (erasing
A-lines), ribs with their acoustic shadows. No speckle, no attenuation.
:func:`scan_convert` draws a scan-grid array as the convex fan or linear image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

Geometry = Literal["convex", "linear"]
# label → allowed B-line counts
DEFAULT_CLASSES: tuple[tuple[int, ...], ...] = ((0,), (1, 2), (3, 4, 5))
DEFAULT_CLASS_NAMES: tuple[str, ...] = ("0 B-lines", "1-2 B-lines", "3+ B-lines")
# convex fan layout, in units of the image height H (apex above the image top)
_APEX_Y = -0.30
_R_MIN = 0.32
_R_MAX = 1.28


@dataclass(frozen=True)
class PhantomParams:
    """Everything that defines one phantom image (the rng supplies only texture/placement).

    geometry: ``"convex"`` (sector fan, apex above the top centre) or ``"linear"``.
    size: image side in pixels (square output ``size×size``).
    n_b_lines: number of B-lines (comet tails).
    attenuation: tissue attenuation coefficient in dB/cm/MHz (soft tissue ≈ 0.5).
    frequency_mhz: centre frequency in MHz (attenuation is ``2·attenuation·f·depth``).
    depth_cm: imaging depth in cm (top of the image to the bottom of the scan).
    tgc_db_per_cm: time-gain compensation added back, dB per cm of depth.
    pleura_depth: depth of the pleural line as a fraction of the imaging depth (0–1).
    n_a_lines: maximum number of A-lines (only those above the bottom are drawn).
    rib_shadows: 0, 1 or 2 ribs (with acoustic shadow) at the lateral sides.
    speckle: ``"rayleigh"`` (complex Gaussian scatterers), ``"none"`` (mean envelope) or
        ``"simus"`` (pymust simulation, convex geometry only; see :func:`simus_envelope`).
    simus_density: scatterers per square wavelength for ``speckle="simus"``; 10 gives fully
        developed speckle (SNR ≈ 1.91), 1 pre-Rayleigh speckle. The simulation time is
        proportional to it: a 12 cm convex fan at 10 takes hours on a CPU.
    gain_db: overall display gain in dB.
    dynamic_range_db: log-compression dynamic range in dB.
    half_angle_deg: half opening angle of the convex fan in degrees.
    psf_axial_mm, psf_lateral_mm: Gaussian PSF standard deviations in mm (lateral is at
        the middle of the depth for convex; it grows with depth because lines diverge).
    """

    geometry: Geometry = "convex"
    size: int = 128
    n_b_lines: int = 0
    attenuation: float = 0.5
    frequency_mhz: float = 3.5
    depth_cm: float = 12.0
    tgc_db_per_cm: float = 2.6
    pleura_depth: float = 0.3
    n_a_lines: int = 3
    rib_shadows: int = 2
    speckle: Literal["rayleigh", "none", "simus"] = "rayleigh"
    simus_density: float = 10.0
    gain_db: float = 0.0
    dynamic_range_db: float = 60.0
    half_angle_deg: float = 32.0
    psf_axial_mm: float = 0.3
    psf_lateral_mm: float = 0.8

    def __post_init__(self) -> None:
        if self.geometry not in ("convex", "linear"):
            raise ValueError(f"geometry must be 'convex' or 'linear', got {self.geometry!r}")
        if self.speckle not in ("rayleigh", "none", "simus"):
            raise ValueError(f"speckle must be 'rayleigh', 'none' or 'simus', got {self.speckle!r}")
        if self.speckle == "simus" and self.geometry != "convex":
            raise ValueError("speckle='simus' simulates a convex probe; use geometry='convex'")
        if self.simus_density <= 0:
            raise ValueError(f"simus_density must be positive, got {self.simus_density}")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 px, got {self.size}")
        if not 0.05 <= self.pleura_depth <= 0.8:
            raise ValueError(f"pleura_depth must lie in [0.05, 0.8], got {self.pleura_depth}")
        if self.rib_shadows not in (0, 1, 2):
            raise ValueError(f"rib_shadows must be 0, 1 or 2, got {self.rib_shadows}")
        if self.n_b_lines < 0 or self.n_a_lines < 0 or self.attenuation < 0:
            raise ValueError("n_b_lines, n_a_lines and attenuation must be non-negative")


@dataclass(frozen=True, eq=False)
class PhantomTruth:
    """Ground truth of one phantom image, in image pixel coordinates.

    geometry: ``"convex"`` or ``"linear"``.
    n_b_lines: how many B-lines were drawn (after placement; equals the params' count).
    b_line_angles_or_columns: lateral B-line centres — column index (float, 0 = left) for
        linear, angle in radians from the vertical (positive to the right) for convex.
    b_line_width: B-line lateral standard deviation, same unit as the positions.
    pleura_row: row of the pleural line (linear) or ``None``.
    pleura_radius: distance of the pleural arc from the apex in px (convex) or ``None``.
    a_line_positions: rows (linear) or radii in px (convex) of the drawn A-lines.
    rib_shadow_spans: ``(low, high)`` lateral extent of each rib shadow (columns / radians).
    apex: ``(x, y)`` of the fan apex in px (convex; ``y`` < 0, above the image) or ``None``.
    r_min, r_max: fan radii in px (convex) or ``None``.
    half_angle: fan half-angle in radians (convex) or ``None``.
    mask: ``H×W`` bool, True inside the imaged region (all True for linear).
    labels: ``H×W`` int64 anatomy label map (:data:`usbench.data.phantom_labels.LABEL_NAMES`).
    """

    geometry: str
    n_b_lines: int
    b_line_angles_or_columns: tuple[float, ...]
    b_line_width: float
    pleura_row: int | None
    pleura_radius: float | None
    a_line_positions: tuple[float, ...]
    rib_shadow_spans: tuple[tuple[float, float], ...]
    apex: tuple[float, float] | None
    r_min: float | None
    r_max: float | None
    half_angle: float | None
    mask: np.ndarray
    labels: np.ndarray | None = None


# --------------------------------------------------------------------------------------
# Scan grid and scan conversion
# --------------------------------------------------------------------------------------
def scan_shape(params: PhantomParams) -> tuple[int, int]:
    """(depth samples, scan lines) of the internal grid; at least 160 for fine speckle."""
    n = max(params.size, 160)
    return n, n


def scan_coordinates(params: PhantomParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every image pixel: scan-grid (row, column) float indices and the inside mask."""
    h = w = params.size
    nz, nl = scan_shape(params)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if params.geometry == "linear":
        z = (y + 0.5) / h
        s = (x + 0.5) / w * 2.0 - 1.0
    else:
        apex_x, apex_y, r_min, r_max, half = fan_layout(params)
        r = np.hypot(x - apex_x, y - apex_y)
        theta = np.arctan2(x - apex_x, y - apex_y)
        z = (r - r_min) / (r_max - r_min)
        s = theta / half
    inside = (z >= 0) & (z <= 1) & (np.abs(s) <= 1)
    return z * nz - 0.5, (s + 1.0) / 2.0 * nl - 0.5, inside


def fan_layout(params: PhantomParams) -> tuple[float, float, float, float, float]:
    """Convex fan: apex x, apex y, r_min, r_max (px) and half-angle (radians)."""
    h = params.size
    return (
        (params.size - 1) / 2.0,
        _APEX_Y * h,
        _R_MIN * h,
        _R_MAX * h,
        np.deg2rad(params.half_angle_deg),
    )


def scan_convert(scan: np.ndarray, params: PhantomParams) -> np.ndarray:
    """Resample a scan-grid map (depth × line) onto the ``size×size`` image; 0 outside.

    Bilinear interpolation; when the grid is finer than the image it is low-pass filtered
    first so speckle is averaged as a coarser display would, not aliased.
    """
    rows, cols, inside = scan_coordinates(params)
    ratio = scan.shape[0] / params.size
    if ratio > 1.0:
        scan = ndimage.gaussian_filter(scan, sigma=0.45 * ratio, mode="nearest")
    out = ndimage.map_coordinates(scan, [rows, cols], order=1, mode="nearest")
    return np.where(inside, out, 0.0)


# --------------------------------------------------------------------------------------
# Step 1: anatomy (echogenicity)
# --------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise low-passed with ``sigma`` (px per axis).

    Very smooth fields are drawn on a coarser grid and interpolated up (same look, cheaper).
    """
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (len(shape),))
    step = max(1, int(sig.min() // 3))
    coarse = tuple(-(-n // step) + 1 for n in shape) if step > 1 else tuple(shape)
    field = ndimage.gaussian_filter(rng.standard_normal(coarse), sig / step, mode="wrap")
    if step > 1:
        grids = np.meshgrid(*[np.arange(n) / step for n in shape], indexing="ij")
        field = ndimage.map_coordinates(field, grids, order=1)
    return field / (field.std() + 1e-12)


def _band(z: np.ndarray, centre: np.ndarray | float, width: float) -> np.ndarray:
    """Gaussian band profile exp(-(z-centre)²/2width²)."""
    return np.exp(-0.5 * ((z - centre) / width) ** 2)


def _soft_tissue(z, s, zp, rng) -> np.ndarray:
    """Layered chest wall above the pleura: skin, fat, muscle bands with bright fascia."""
    nz, nl = z.shape
    base = 0.4 * np.exp(0.3 * _smooth_noise(rng, (nz, nl), (nz * 0.02, nl * 0.06)))
    n_layers = int(rng.integers(3, 6))
    depths = np.sort(rng.uniform(0.06, 0.9, n_layers)) * zp
    tissue = base.copy()
    for d in depths:
        wobble = 0.012 * _smooth_noise(rng, (nl,), nl * 0.15)
        tilt = rng.uniform(-0.02, 0.02) * s[0]
        centre = d + wobble + tilt
        tissue = tissue + rng.uniform(1.0, 3.0) * _band(z, centre, 0.004)
        below = z > centre
        tissue = np.where(below, tissue * rng.uniform(0.6, 1.5), tissue)
    tissue = tissue + 2.0 * _band(z, 0.008, 0.004)  # skin / coupling line
    return np.clip(tissue, 0.05, None) * (z < zp)


def _pleura_profile(s_line: np.ndarray, zp: float, rng) -> np.ndarray:
    """Depth of the pleural line per scan line: slightly irregular around ``zp``."""
    nl = s_line.size
    coarse = 0.006 * _smooth_noise(rng, (nl,), nl * 0.06)
    return zp + coarse + 0.0015 * _smooth_noise(rng, (nl,), 2.0)


def _place_b_lines(n: int, free: tuple[float, float], width: float, rng) -> np.ndarray:
    """``n`` lateral positions (scan units, [-1, 1]) in ``free``, at least 4 widths apart."""
    low, high = free
    for _ in range(200):
        pos = np.sort(rng.uniform(low + 2 * width, high - 2 * width, n))
        if n < 2 or np.diff(pos).min() > 4 * width:
            return pos
    return np.linspace(low + 2 * width, high - 2 * width, n)  # evenly spaced fallback


def _ribs(params: PhantomParams, rng) -> list[tuple[float, float]]:
    """Rib shadows as (centre, half-width) in lateral scan units."""
    sides = [-1.0, 1.0] if params.rib_shadows == 2 else [float(rng.choice([-1.0, 1.0]))]
    sides = sides[: params.rib_shadows]
    return [(side * rng.uniform(0.72, 0.9), rng.uniform(0.13, 0.2)) for side in sides]


def _b_line_cover(n: int, s: np.ndarray, ribs, rng) -> tuple[np.ndarray, np.ndarray, float]:
    """Lateral B-line weight (≈1 on a line, textured along depth), positions and width.

    Lines are placed between the rib shadows, at least four widths apart.
    """
    nz = s.shape[0]
    width = float(rng.uniform(0.025, 0.045))
    free = (
        max([c + 1.1 * hw for c, hw in ribs if c < 0], default=-0.95),
        min([c - 1.1 * hw for c, hw in ribs if c > 0], default=0.95),
    )
    positions = _place_b_lines(n, free, width, rng)
    cover = np.zeros_like(s)
    for b in positions:
        texture = np.exp(0.35 * _smooth_noise(rng, (nz, 1), (nz * 0.015, 1)))
        cover = np.maximum(cover, _band(s, b, width) * texture)
    return cover, positions, width


@dataclass(frozen=True, eq=False)
class Anatomy:
    """One phantom's anatomy on the scan grid (depth × scan line).

    echo: echogenicity. b_pos, b_width: B-line centres and width (lateral scan units,
    [-1, 1]). a_depths: nominal A-line depths (fractions of the imaging depth). ribs:
    ``(centre, half-width)`` per rib. pleura_z: ``1×lines`` pleural depth per scan line.
    b_cover: B-line weight per grid cell (≈ 1 on a line).
    """

    echo: np.ndarray
    b_pos: np.ndarray
    b_width: float
    a_depths: list[float]
    ribs: list[tuple[float, float]]
    pleura_z: np.ndarray
    b_cover: np.ndarray


def anatomy(params: PhantomParams, rng: np.random.Generator) -> Anatomy:
    """Echogenicity on the scan grid plus the scan-unit facts needed for the truth."""
    nz, nl = scan_shape(params)
    z, s = scan_grid(params)
    zp = params.pleura_depth
    echo = _soft_tissue(z, s, zp, rng)
    pleura_z = _pleura_profile(s[0], zp, rng)[None, :]
    below = z >= pleura_z
    haze = rng.uniform(0.05, 0.1) * np.exp(
        0.5 * _smooth_noise(rng, (nz, nl), (nz * 0.08, nl * 0.015))
    )
    pleura_gain = 30.0 * np.exp(0.35 * _smooth_noise(rng, (nl,), nl * 0.02))[None, :]
    echo = echo + pleura_gain * _band(z, pleura_z, 0.0045) + haze * below
    ribs = _ribs(params, rng)
    b_cover, b_pos, b_width = _b_line_cover(params.n_b_lines, s, ribs, rng)
    a_depths = [k * zp for k in range(2, 2 + params.n_a_lines) if k * zp < 0.97]
    for k, d in enumerate(a_depths):
        a_line = _band(z, d + 0.5 * (pleura_z - zp), 0.006 * (1 + 0.5 * k))
        echo = echo + 5.0 * 0.5**k * a_line * (1 - np.clip(2.0 * b_cover, 0, 1))
    echo = echo + rng.uniform(3.0, 6.0) * b_cover * below * (z > pleura_z + 0.003)
    echo = _apply_ribs(echo, z, s, zp, ribs)
    return Anatomy(echo, b_pos, b_width, a_depths, ribs, pleura_z, b_cover)


def scan_grid(params: PhantomParams) -> tuple[np.ndarray, np.ndarray]:
    """Depth fraction ``z`` and lateral position ``s`` ∈ [-1, 1] of every scan-grid cell."""
    nz, nl = scan_shape(params)
    return np.meshgrid(
        (np.arange(nz) + 0.5) / nz, (np.arange(nl) + 0.5) / nl * 2 - 1, indexing="ij"
    )


def _apply_ribs(echo, z, s, zp, ribs) -> np.ndarray:
    """Bright curved rib surface above the pleura and a dark shadow underneath it."""
    for centre, half in ribs:
        u = (s - centre) / half
        top = zp - 0.06 + 0.025 * u**2
        lateral = 1.0 / (1.0 + np.exp((np.abs(u) - 1.0) * 12.0))
        surface = 1.0 / (1.0 + np.exp((np.abs(u) - 0.8) * 10.0))
        shadow = lateral * (1.0 / (1.0 + np.exp(np.clip(-(z - top) / 0.004, -50, 50))))
        echo = echo * (1.0 - 0.97 * shadow) + 20.0 * surface * _band(z, top, 0.006)
    return echo


def echogenicity_map(params: PhantomParams, rng: np.random.Generator) -> np.ndarray:
    """The scatterer-amplitude map (``size×size`` float64, ≥ 0, 0 outside the fan).

    Soft tissue ≈ 0.4 (fascia lines 1–3 higher), pleura peak ≈ 30, rib surface ≈ 20,
    A-lines 5·0.5^k, B-lines 3–6, aerated lung haze 0.05–0.1, rib shadow × 0.03. No
    speckle and no attenuation (a physical simulator adds both). With a generator in the
    same state, this is exactly the anatomy that :func:`render_phantom` speckles (it
    consumes the rng first).
    """
    return scan_convert(anatomy(params, rng).echo, params)
