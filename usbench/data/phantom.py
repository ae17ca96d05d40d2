"""``lus-phantom``: an embedded, procedural lung-ultrasound phantom with ground truth.

Offline and deterministic by seed. Each image is built in three separate steps so a physical
simulator can replace the last two:

1. :func:`echogenicity_map` — the scatterer-amplitude (anatomy) map: soft-tissue layers, a
   bright irregular pleural line, A-line reverberations at multiples of the pleural depth,
   B-line comet tails from the pleura to the bottom (erasing A-lines), ribs with their
   acoustic shadows. No speckle, no attenuation.
2. :func:`speckle_envelope` — Rayleigh speckle: complex Gaussian scatterers weighted by the
   map, convolved with an anisotropic Gaussian PSF (lateral wider than axial), envelope.
   Or, with ``speckle="simus"`` (dataset option ``renderer=simus``), :func:`simus_envelope`:
   the map is scanned by the pymust ultrasound simulator (point scatterers, a convex C5-2v
   probe, delay-and-sum beamforming), so speckle and point-spread are physical.
3. :func:`depth_gain_db` + :func:`log_compress` — round-trip exponential attenuation,
   time-gain compensation, log compression to ``[0, 1]``.

Everything is computed on a scan grid (depth × scan line) and scan-converted to the image,
so B-lines are radial and the PSF widens with depth on a convex fan. Labels are B-line
count classes, by default ``("0 B-lines", "1-2 B-lines", "3+ B-lines")`` = counts
``{0}``, ``{1, 2}``, ``{3, 4, 5}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage

from usbench.protocols import DatasetSource

Geometry = Literal["convex", "linear"]
# label → allowed B-line counts
DEFAULT_CLASSES: tuple[tuple[int, ...], ...] = ((0,), (1, 2), (3, 4, 5))
DEFAULT_CLASS_NAMES: tuple[str, ...] = ("0 B-lines", "1-2 B-lines", "3+ B-lines")
# convex fan layout, in units of the image height H (apex above the image top)
_APEX_Y = -0.30
_R_MIN = 0.32
_R_MAX = 1.28
_DISPLAY_TOP_DB = 25.0  # envelope level (dB re a unit echogenicity) shown as white


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


# --------------------------------------------------------------------------------------
# Scan grid and scan conversion
# --------------------------------------------------------------------------------------
def _scan_shape(params: PhantomParams) -> tuple[int, int]:
    """(depth samples, scan lines) of the internal grid; at least 160 for fine speckle."""
    n = max(params.size, 160)
    return n, n


def _scan_coordinates(params: PhantomParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every image pixel: scan-grid (row, column) float indices and the inside mask."""
    h = w = params.size
    nz, nl = _scan_shape(params)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if params.geometry == "linear":
        z = (y + 0.5) / h
        s = (x + 0.5) / w * 2.0 - 1.0
    else:
        apex_x, apex_y, r_min, r_max, half = _fan(params)
        r = np.hypot(x - apex_x, y - apex_y)
        theta = np.arctan2(x - apex_x, y - apex_y)
        z = (r - r_min) / (r_max - r_min)
        s = theta / half
    inside = (z >= 0) & (z <= 1) & (np.abs(s) <= 1)
    return z * nz - 0.5, (s + 1.0) / 2.0 * nl - 0.5, inside


def _fan(params: PhantomParams) -> tuple[float, float, float, float, float]:
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
    rows, cols, inside = _scan_coordinates(params)
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


def _anatomy(params: PhantomParams, rng: np.random.Generator):
    """Echogenicity on the scan grid plus the scan-unit facts needed for the truth."""
    nz, nl = _scan_shape(params)
    z, s = np.meshgrid(
        (np.arange(nz) + 0.5) / nz, (np.arange(nl) + 0.5) / nl * 2 - 1, indexing="ij"
    )
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
    return echo, b_pos, b_width, a_depths, ribs


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
    scan, *_ = _anatomy(params, rng)
    return scan_convert(scan, params)


# --------------------------------------------------------------------------------------
# Steps 2 and 3: speckle, attenuation, display
# --------------------------------------------------------------------------------------
def speckle_envelope(
    echo_scan: np.ndarray, sigma_px: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Rayleigh speckle envelope of a scan-grid echogenicity map (same shape, float64).

    Complex circular Gaussian scatterers with amplitude ``sqrt(echo)`` are convolved with a
    Gaussian PSF of standard deviations ``sigma_px = (axial, lateral)`` (px), normalised to
    unit energy, so ``E[envelope²] = echo`` where the map is flat and the envelope is
    Rayleigh there (mean/std = sqrt(pi/(4-pi)) ≈ 1.91).
    """
    amp = np.sqrt(np.clip(echo_scan, 0.0, None))
    noise = rng.standard_normal((2, *echo_scan.shape)) * amp / np.sqrt(2.0)
    impulse = np.zeros((int(8 * sigma_px[0]) * 2 + 1, int(8 * sigma_px[1]) * 2 + 1))
    impulse[impulse.shape[0] // 2, impulse.shape[1] // 2] = 1.0
    energy = float((ndimage.gaussian_filter(impulse, sigma_px) ** 2).sum())
    re = ndimage.gaussian_filter(noise[0], sigma_px, mode="reflect")
    im = ndimage.gaussian_filter(noise[1], sigma_px, mode="reflect")
    return np.hypot(re, im) / np.sqrt(energy)


_SIMUS_SKIN_M = 1e-3  # the simulated sector starts 1 mm below the probe surface


def simus_envelope(
    echo_scan: np.ndarray, params: PhantomParams, rng: np.random.Generator
) -> np.ndarray:
    """Envelope of a scan-grid echogenicity map simulated with pymust (same shape, float64).

    The map's rows span 1 mm to ``depth_cm`` below a C5-2v convex probe (3.6 MHz, its own
    centre frequency replaces ``frequency_mhz``), its columns the sector
    ``±half_angle_deg``. Scatterers get Rayleigh amplitudes of mean ``sqrt(echo)`` at
    ``simus_density`` per square wavelength (:func:`usbench.data.simus_render.simulate_envelope`).
    The simulator's own depth loss (spreading of one diverging wave) is removed by a smooth
    per-depth gain that restores ``E[envelope²] = echo`` on average over each depth, as
    :func:`speckle_envelope` has it, so attenuation and TGC stay those of ``params``.
    Envelopes are cached (``$USBENCH_CACHE/simus``) by map, seed and geometry; the seed
    is drawn from ``rng``.
    """
    from usbench.data.simus_render import SimusConfig, cached_envelope

    config = SimusConfig(
        grid=(int(echo_scan.shape[0]), int(echo_scan.shape[1])),
        depth_m=(_SIMUS_SKIN_M, params.depth_cm / 100.0),
        half_angle=float(np.deg2rad(params.half_angle_deg)),
        scatterer_density=params.simus_density,
    )
    amplitude = np.sqrt(np.clip(echo_scan, 0.0, None))
    seed = int(rng.integers(2**63 - 1))
    envelope = cached_envelope(amplitude, seed=seed, config=config)
    return _equalise_depth_energy(envelope, echo_scan)


def _equalise_depth_energy(envelope: np.ndarray, echo_scan: np.ndarray) -> np.ndarray:
    """Scale each depth row so its mean ``envelope²`` follows the map's mean (smoothly)."""
    sigma = max(echo_scan.shape[0] / 20.0, 1.0)
    target = ndimage.gaussian_filter1d(echo_scan.mean(axis=1), sigma, mode="nearest")
    power = ndimage.gaussian_filter1d((envelope**2).mean(axis=1), sigma, mode="nearest")
    gain = np.sqrt(target / np.maximum(power, 1e-30 * max(power.max(), 1e-300)))
    return envelope * gain[:, None]


def depth_gain_db(params: PhantomParams, z_frac: np.ndarray) -> np.ndarray:
    """Round-trip attenuation plus TGC (dB, ≤ 0 when TGC < attenuation) at depth fractions."""
    depth_cm = z_frac * params.depth_cm
    loss = 2.0 * params.attenuation * params.frequency_mhz * depth_cm
    return params.tgc_db_per_cm * depth_cm - loss


def log_compress(envelope: np.ndarray, params: PhantomParams) -> np.ndarray:
    """Envelope → display in [0, 1]: ``1 + (20·log10(env) + gain − 25 dB) / DR`` clipped."""
    db = 20.0 * np.log10(np.maximum(envelope, 1e-12)) + params.gain_db - _DISPLAY_TOP_DB
    return np.clip(1.0 + db / params.dynamic_range_db, 0.0, 1.0)


def _psf_px(params: PhantomParams) -> tuple[float, float]:
    """PSF (axial, lateral) standard deviations in scan-grid px."""
    nz, nl = _scan_shape(params)
    mm_per_row = params.depth_cm * 10.0 / nz
    if params.geometry == "linear":
        mm_per_line = params.depth_cm * 10.0 / nl  # square field of view
    else:
        _, _, r_min, r_max, half = _fan(params)
        mid_r_mm = (r_min + r_max) / 2.0 / (r_max - r_min) * params.depth_cm * 10.0
        mm_per_line = mid_r_mm * 2.0 * half / nl
    scale = 3.5 / params.frequency_mhz  # resolution improves with frequency
    return scale * params.psf_axial_mm / mm_per_row, scale * params.psf_lateral_mm / mm_per_line


def render_phantom(
    params: PhantomParams, rng: np.random.Generator
) -> tuple[np.ndarray, PhantomTruth]:
    """Render one phantom image: ``size×size`` float32 in [0, 1] and its ground truth."""
    echo, b_pos, b_width, a_depths, ribs = _anatomy(params, rng)
    if params.speckle == "rayleigh":
        env = speckle_envelope(echo, _psf_px(params), rng)
    elif params.speckle == "simus":
        env = simus_envelope(echo, params, rng)
    else:
        env = np.sqrt(np.pi) / 2.0 * np.sqrt(echo)
    z_frac = (np.arange(echo.shape[0]) + 0.5) / echo.shape[0]
    env = env * 10.0 ** (depth_gain_db(params, z_frac)[:, None] / 20.0)
    image = log_compress(scan_convert(env, params), params)
    truth = _truth(params, b_pos, b_width, a_depths, ribs)
    return np.where(truth.mask, image, 0.0).astype(np.float32), truth


def _truth(params, b_pos, b_width, a_depths, ribs) -> PhantomTruth:
    """Convert scan-unit facts into image coordinates."""
    *_, inside = _scan_coordinates(params)
    n = params.size
    spans = tuple((c - hw, c + hw) for c, hw in ribs)
    if params.geometry == "linear":
        col = lambda u: float((u + 1.0) / 2.0 * n - 0.5)  # noqa: E731
        row = lambda zf: float(zf * n - 0.5)  # noqa: E731
        return PhantomTruth(
            "linear", len(b_pos), tuple(col(b) for b in b_pos), b_width * n / 2.0,
            int(round(row(params.pleura_depth))), None, tuple(row(d) for d in a_depths),
            tuple((col(a), col(b)) for a, b in spans), None, None, None, None, inside,
        )  # fmt: skip
    ax, ay, r_min, r_max, half = _fan(params)
    rad = lambda zf: float(r_min + zf * (r_max - r_min))  # noqa: E731
    return PhantomTruth(
        "convex", len(b_pos), tuple(float(b * half) for b in b_pos), float(b_width * half),
        None, rad(params.pleura_depth), tuple(rad(d) for d in a_depths),
        tuple((float(a * half), float(b * half)) for a, b in spans),
        (float(ax), float(ay)), float(r_min), float(r_max), float(half), inside,
    )  # fmt: skip


# --------------------------------------------------------------------------------------
# Sampling parameters per class, the dataset, the figure
# --------------------------------------------------------------------------------------
def sample_params(
    label: int,
    rng: np.random.Generator,
    *,
    size: int,
    geometry: Geometry,
    classes: Sequence[Sequence[int]] = DEFAULT_CLASSES,
    attenuation: float | None = None,
    speckle: Literal["rayleigh", "none", "simus"] = "rayleigh",
    simus_density: float = 10.0,
) -> PhantomParams:
    """Random but plausible parameters for class ``label`` (B-line count from ``classes``).

    Convex: 3.5 MHz, 10–14 cm; linear: 7.5 MHz, 4–6 cm. TGC makes up 75 % of a nominal
    0.5 dB/cm/MHz tissue loss, so a larger ``attenuation`` darkens depth visibly.
    ``speckle`` and ``simus_density`` are passed through (they draw nothing from ``rng``).
    """
    if not 0 <= label < len(classes):
        raise ValueError(f"label must be in 0..{len(classes) - 1}, got {label}")
    f_mhz, depth = (3.5, rng.uniform(10, 14)) if geometry == "convex" else (7.5, rng.uniform(4, 6))
    return PhantomParams(
        geometry=geometry,
        size=size,
        n_b_lines=int(rng.choice(np.asarray(classes[label]))),
        attenuation=float(rng.uniform(0.4, 0.6)) if attenuation is None else attenuation,
        frequency_mhz=f_mhz,
        depth_cm=float(depth),
        tgc_db_per_cm=0.75 * 2 * 0.5 * f_mhz,
        pleura_depth=float(
            rng.uniform(0.18, 0.34) if geometry == "convex" else rng.uniform(0.28, 0.42)
        ),
        n_a_lines=int(rng.integers(2, 5)),
        rib_shadows=int(rng.choice([0, 1, 2], p=[0.2, 0.3, 0.5])),
        gain_db=float(rng.uniform(-3, 3)),
        half_angle_deg=float(rng.uniform(29, 35)),
        speckle=speckle,
        simus_density=simus_density,
    )


_OPTION_KEYS = (
    "n_per_class",
    "seed",
    "geometry",
    "attenuation",
    "classes",
    "renderer",
    "simus_density",
)


@dataclass(frozen=True)
class PhantomOptions:
    """Parsed ``lus-phantom`` options (see :meth:`PhantomOptions.parse`)."""

    n_per_class: int = 32
    seed: int = 0
    geometry: Literal["convex", "linear", "mixed"] = "mixed"
    attenuation: float | None = None
    classes: tuple[tuple[int, ...], ...] = DEFAULT_CLASSES
    renderer: Literal["procedural", "simus"] = "procedural"
    simus_density: float = 10.0

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> PhantomOptions:
        """Validate string options; unknown keys and bad values raise ``ValueError``.

        ``classes`` is ``"0;1-2;3-5"``: one B-line count range per class, ``;``-separated.
        """
        unknown = sorted(set(options) - set(_OPTION_KEYS))
        if unknown:
            raise ValueError(
                f"Unknown lus-phantom option(s) {', '.join(unknown)}; valid keys: "
                f"{', '.join(_OPTION_KEYS)} (e.g. --data-option n_per_class=16)."
            )
        out = cls()
        for key, raw in options.items():
            out = replace(out, **{key: _parse_option(key, str(raw))})
        if out.renderer == "simus" and out.geometry != "convex":
            raise ValueError(
                "lus-phantom renderer=simus simulates a convex probe only; "
                "add --data-option geometry=convex."
            )
        return out

    @property
    def speckle(self) -> Literal["rayleigh", "simus"]:
        """The :class:`PhantomParams` speckle model that ``renderer`` selects."""
        return "simus" if self.renderer == "simus" else "rayleigh"


def _parse_option(key: str, raw: str):
    """Parse one option value, with an error message that says what to type."""
    try:
        if key in ("n_per_class", "seed"):
            value = int(raw)
            if value < (1 if key == "n_per_class" else 0):
                raise ValueError
            return value
        if key == "attenuation":
            value = float(raw)
            if not 0.0 <= value <= 5.0:
                raise ValueError
            return value
        if key == "simus_density":
            value = float(raw)
            if not 0.0 < value <= 100.0:
                raise ValueError
            return value
        if key == "renderer":
            if raw not in ("procedural", "simus"):
                raise ValueError
            return raw
        if key == "geometry":
            if raw not in ("convex", "linear", "mixed"):
                raise ValueError
            return raw
        return _parse_classes(raw)
    except ValueError:
        hints = {
            "n_per_class": "a positive integer, e.g. 32",
            "seed": "a non-negative integer, e.g. 0",
            "attenuation": "dB/cm/MHz between 0 and 5, e.g. 0.5",
            "geometry": "convex, linear or mixed",
            "renderer": "procedural (default) or simus (pymust; needs usbench[sim])",
            "simus_density": "scatterers per square wavelength in (0, 100], e.g. 10",
            "classes": "B-line count ranges separated by ';', e.g. 0;1-2;3-5",
        }
        raise ValueError(f"Bad lus-phantom option {key}={raw!r}; use {hints[key]}.") from None


def _parse_classes(raw: str) -> tuple[tuple[int, ...], ...]:
    """``"0;1-2;3-5"`` → ``((0,), (1, 2), (3, 4, 5))``."""
    classes = []
    for part in raw.split(";"):
        low, _, high = part.strip().partition("-")
        lo, hi = int(low), int(high or low)
        if lo < 0 or hi < lo or hi > 12:
            raise ValueError
        classes.append(tuple(range(lo, hi + 1)))
    if len(classes) < 2:
        raise ValueError
    return tuple(classes)


def class_names(classes: Sequence[Sequence[int]]) -> tuple[str, ...]:
    """Readable class names: ``"0 B-lines"``, ``"1-2 B-lines"``; the default's last is ``"3+"``."""
    if tuple(map(tuple, classes)) == DEFAULT_CLASSES:
        return DEFAULT_CLASS_NAMES
    return tuple(f"{c[0]} B-lines" if len(c) == 1 else f"{c[0]}-{c[-1]} B-lines" for c in classes)


def image_geometry(opts: PhantomOptions, index: int) -> Geometry:
    """Probe of image ``index``: fixed, or for ``mixed`` alternating per round of classes."""
    if opts.geometry != "mixed":
        return opts.geometry
    return ("convex", "linear")[(index // len(opts.classes)) % 2]


def render_dataset_image(
    opts: PhantomOptions, index: int, image_size: int
) -> tuple[np.ndarray, PhantomTruth, int]:
    """Image ``index`` of the dataset (its label is ``index % n_classes``): image, truth, label.

    Seeded from ``(seed, index)`` only, so it does not depend on ``n_per_class``.
    """
    label = index % len(opts.classes)
    rng = np.random.default_rng([opts.seed, index])
    params = sample_params(
        label,
        rng,
        size=image_size,
        geometry=image_geometry(opts, index),
        classes=opts.classes,
        attenuation=opts.attenuation,
        speckle=opts.speckle,
        simus_density=opts.simus_density,
    )
    image, truth = render_phantom(params, rng)
    return image, truth, label


class LUSPhantom(DatasetSource):
    """The embedded procedural lung-ultrasound phantom (offline, deterministic by seed).

    Options (strings): ``n_per_class`` (32), ``seed`` (0), ``geometry``
    (``convex``/``linear``/``mixed``, default ``mixed``), ``attenuation`` (dB/cm/MHz; default
    varies 0.4–0.6 per image), ``classes`` (``"0;1-2;3-5"``), ``renderer`` (``procedural``,
    or ``simus`` for speckle simulated by pymust — convex geometry only, cached, minutes to
    hours per image, see :func:`simus_envelope`) and ``simus_density`` (10 scatterers per
    square wavelength). The anatomy and the truth do not depend on the renderer. Image ``i``
    has label ``i % n_classes``, patient id ``phantom-<seed>-<i>`` and name ``phantom/<i:05d>``.
    """

    name = "lus-phantom"
    description = "Procedural lung ultrasound phantom with B-line count classes (no download)."

    def load(self, *, image_size: int, root: Path | None = None, options: Mapping[str, str] = {}):
        """All ``n_per_class × n_classes`` images as an ImageSet (``root`` is ignored)."""
        return self.load_with_truth(image_size=image_size, options=options)[0]

    def load_with_truth(self, *, image_size: int, options: Mapping[str, str] = {}):
        """``(ImageSet, list[PhantomTruth])``, truth in the same order as the images."""
        import torch

        from usbench.data.imageset import ImageSet

        opts = PhantomOptions.parse(options)
        count = opts.n_per_class * len(opts.classes)
        indices = range(count)
        if opts.renderer == "simus":
            from tqdm.auto import tqdm

            indices = tqdm(indices, desc="lus-phantom: simulating with pymust", unit="image")
        rendered = [render_dataset_image(opts, i, image_size) for i in indices]
        images = torch.from_numpy(np.stack([r[0] for r in rendered])[:, None])
        data = ImageSet(
            images=images.contiguous(),
            labels=torch.tensor([r[2] for r in rendered], dtype=torch.int64),
            class_names=class_names(opts.classes),
            patient_ids=tuple(f"phantom-{opts.seed}-{i}" for i in range(count)),
            names=tuple(f"phantom/{i:05d}" for i in range(count)),
            name=self.name,
            probes=tuple(r[1].geometry for r in rendered),
        )
        return data, [r[1] for r in rendered]


def phantom_truth(options: Mapping[str, str], image_size: int) -> list[PhantomTruth]:
    """Ground truth of every image that ``LUSPhantom().load`` returns for these options."""
    return LUSPhantom().load_with_truth(image_size=image_size, options=options)[1]
