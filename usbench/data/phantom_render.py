"""Steps 2 and 3 of rendering a ``lus-phantom`` image: speckle, attenuation, display.

:func:`speckle_envelope` — Rayleigh speckle: complex Gaussian scatterers weighted by the
map, convolved with an anisotropic Gaussian PSF (lateral wider than axial), envelope. Or,
with ``speckle="simus"``, :func:`simus_envelope`: the map is scanned by the pymust
ultrasound simulator, so speckle and point-spread are physical. Then
:func:`depth_gain_db` + :func:`log_compress`: round-trip exponential attenuation,
time-gain compensation, log compression to ``[0, 1]``. :func:`render_phantom` runs all
three steps and returns the image with its :class:`PhantomTruth`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from usbench.data.phantom_anatomy import (
    Anatomy,
    PhantomParams,
    PhantomTruth,
    anatomy,
    fan_layout,
    scan_convert,
    scan_coordinates,
    scan_shape,
)
from usbench.data.phantom_labels import label_map

_DISPLAY_TOP_DB = 25.0  # envelope level (dB re a unit echogenicity) shown as white


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
    nz, nl = scan_shape(params)
    mm_per_row = params.depth_cm * 10.0 / nz
    if params.geometry == "linear":
        mm_per_line = params.depth_cm * 10.0 / nl  # square field of view
    else:
        _, _, r_min, r_max, half = fan_layout(params)
        mid_r_mm = (r_min + r_max) / 2.0 / (r_max - r_min) * params.depth_cm * 10.0
        mm_per_line = mid_r_mm * 2.0 * half / nl
    scale = 3.5 / params.frequency_mhz  # resolution improves with frequency
    return scale * params.psf_axial_mm / mm_per_row, scale * params.psf_lateral_mm / mm_per_line


def render_phantom(
    params: PhantomParams, rng: np.random.Generator
) -> tuple[np.ndarray, PhantomTruth]:
    """Render one phantom image: ``size×size`` float32 in [0, 1] and its ground truth."""
    parts = anatomy(params, rng)
    echo = parts.echo
    if params.speckle == "rayleigh":
        env = speckle_envelope(echo, _psf_px(params), rng)
    elif params.speckle == "simus":
        env = simus_envelope(echo, params, rng)
    else:
        env = np.sqrt(np.pi) / 2.0 * np.sqrt(echo)
    z_frac = (np.arange(echo.shape[0]) + 0.5) / echo.shape[0]
    env = env * 10.0 ** (depth_gain_db(params, z_frac)[:, None] / 20.0)
    image = log_compress(scan_convert(env, params), params)
    truth = _truth(params, parts)
    return np.where(truth.mask, image, 0.0).astype(np.float32), truth


def _truth(params: PhantomParams, parts: Anatomy) -> PhantomTruth:
    """Convert scan-unit facts into image coordinates, with the label map."""
    b_pos, b_width, a_depths, ribs = parts.b_pos, parts.b_width, parts.a_depths, parts.ribs
    *_, inside = scan_coordinates(params)
    labels = label_map(params, parts)
    n = params.size
    spans = tuple((c - hw, c + hw) for c, hw in ribs)
    if params.geometry == "linear":
        col = lambda u: float((u + 1.0) / 2.0 * n - 0.5)  # noqa: E731
        row = lambda zf: float(zf * n - 0.5)  # noqa: E731
        return PhantomTruth(
            "linear", len(b_pos), tuple(col(b) for b in b_pos), b_width * n / 2.0,
            int(round(row(params.pleura_depth))), None, tuple(row(d) for d in a_depths),
            tuple((col(a), col(b)) for a, b in spans), None, None, None, None, inside, labels,
        )  # fmt: skip
    ax, ay, r_min, r_max, half = fan_layout(params)
    rad = lambda zf: float(r_min + zf * (r_max - r_min))  # noqa: E731
    return PhantomTruth(
        "convex", len(b_pos), tuple(float(b * half) for b in b_pos), float(b_width * half),
        None, rad(params.pleura_depth), tuple(rad(d) for d in a_depths),
        tuple((float(a * half), float(b * half)) for a, b in spans),
        (float(ax), float(ay)), float(r_min), float(r_max), float(half), inside, labels,
    )  # fmt: skip
