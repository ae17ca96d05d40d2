"""Physically simulated speckle with pymust (the Python port of the MUST toolbox).

Pipeline for one image: scatterers drawn from an echogenicity map (``genscat``), RF
signals of a convex probe insonifying them with one diverging wave (``simus``), I/Q
demodulation (``rf2iq``), delay-and-sum beamforming onto a polar grid (``dasmtx``), and the
envelope ``|IQ|``. A single diverging transmit over a narrow sector keeps one small image at tens of
seconds on a CPU. The result is the linear envelope on the polar (depth × scan line)
grid; :func:`log_compress` turns it into a B-mode image.

pymust is optional (``pip install usbench[sim]``); importing this module does not need it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from usbench import paths


@dataclass(frozen=True)
class SimusConfig:
    """Acquisition recipe: a sector of a convex probe, imaged on a polar grid.

    probe: a pymust convex probe name (``C5-2v``: 128 elements, 3.6 MHz).
    grid: ``(depth samples, scan lines)`` of the beamformed polar grid.
    depth_m: ``(shallowest, deepest)`` imaged depth below the array (m).
    half_angle: half opening of the imaged sector (rad); a narrow sector keeps the
        scatterer count, hence the run time, small.
    scatterer_density: scatterers per square wavelength; about 10 puts ~10 scatterers in
        a resolution cell (fully developed speckle), 1 gives pre-Rayleigh statistics.
    """

    probe: str = "C5-2v"
    grid: tuple[int, int] = (32, 32)
    depth_m: tuple[float, float] = (0.025, 0.035)
    half_angle: float = 0.05
    scatterer_density: float = 10.0


def require_pymust():
    """Import pymust, or explain how to install it."""
    try:
        import pymust
    except ImportError as err:
        raise ImportError(
            "The simus renderer needs pymust; install it with `pip install usbench[sim]` "
            "(or `pip install pymust`)."
        ) from err
    return pymust


@dataclass(frozen=True)
class _Sector:
    """Polar sector around the convex apex ``(0, z_apex)``: radii and angles (m, rad)."""

    z_apex: float
    r: tuple[float, float]
    angle: tuple[float, float]

    def to_xz(self, radius: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return radius * np.sin(angle), radius * np.cos(angle) + self.z_apex


def _sector(param, config: SimusConfig) -> _Sector:
    radius = float(param.radius)
    if not np.isfinite(radius):
        raise ValueError(f"probe {config.probe!r} is linear; the simus renderer needs a convex one")
    chord = 2 * radius * np.sin(np.arcsin(param.pitch / 2 / radius) * (param.Nelements - 1))
    apothem = float(np.sqrt(radius**2 - chord**2 / 4))
    depth0, depth1 = config.depth_m
    return _Sector(
        -apothem, (radius + depth0, radius + depth1), (-config.half_angle, config.half_angle)
    )


def simulate_envelope(
    echogenicity: np.ndarray, rng: np.random.Generator, config: SimusConfig = SimusConfig()
) -> np.ndarray:
    """Envelope ``grid`` float64 (depth × scan line, linear amplitude) of a simulated scan.

    ``echogenicity`` (``h×w``, ≥ 0, linear mean amplitude; row 0 = shallowest, column 0 =
    leftmost) is stretched over the imaged sector. Scatterers are uniform in the sector
    (plus a 1 mm margin) with Rayleigh reflection coefficients of that mean; all elements
    transmit at once (a diverging wave) and delay-and-sum beamforming forms the image.
    """
    pm = require_pymust()
    param = pm.getparam(config.probe)
    param.fs = 4 * param.fc
    sector = _sector(param, config)
    radius = np.linspace(*sector.r, config.grid[0])[:, None] * np.ones((1, config.grid[1]))
    angle = np.ones((config.grid[0], 1)) * np.linspace(*sector.angle, config.grid[1])[None, :]
    x, z = sector.to_xz(radius, angle)
    xs, zs, rc = _scatterers(echogenicity, sector, param, rng, config.scatterer_density)
    delays = np.zeros((1, param.Nelements))
    rf, _ = pm.simus(xs, np.zeros_like(xs), zs, rc, delays, param)
    iq = pm.rf2iq(rf, param)
    das = pm.dasmtx(1j * np.array(iq.shape), x, z, delays, param)
    beamformed = (das @ iq.flatten(order="F")).reshape(x.shape, order="F")
    return np.abs(beamformed)


def _scatterers(echo: np.ndarray, sector: _Sector, param, rng, density: float):
    """Scatterers uniform in the sector (+1 mm margin), RC Rayleigh with mean ``echo``."""
    wavelength = 1540.0 / param.fc
    r0, r1 = sector.r[0] - 1e-3, sector.r[1] + 1e-3
    margin = 1e-3 / sector.r[0]
    a0, a1 = sector.angle[0] - margin, sector.angle[1] + margin
    count = int(density * 0.5 * (a1 - a0) * (r1**2 - r0**2) / wavelength**2)
    radius = np.sqrt(rng.uniform(r0**2, r1**2, count))
    angle = rng.uniform(a0, a1, count)
    rows = (radius - sector.r[0]) / (sector.r[1] - sector.r[0]) * (echo.shape[0] - 1)
    cols = (angle - sector.angle[0]) / (sector.angle[1] - sector.angle[0]) * (echo.shape[1] - 1)
    mean_amp = ndimage.map_coordinates(
        echo.astype(np.float64), [rows, cols], order=1, mode="nearest"
    )
    rc = mean_amp * rng.rayleigh(np.sqrt(2 / np.pi), count)  # Rayleigh, mean = mean_amp
    xs, zs = sector.to_xz(radius, angle)
    return xs, zs, rc


def log_compress(envelope: np.ndarray, dynamic_range_db: float = 50.0) -> np.ndarray:
    """B-mode grey levels in [0, 1]: ``1 + 20 log10(A / max A) / DR``, clipped. float32."""
    db = 20.0 * np.log10(np.maximum(envelope / envelope.max(), 1e-12))
    return np.clip(1.0 + db / dynamic_range_db, 0.0, 1.0).astype(np.float32)


def cached_envelope(
    echogenicity: np.ndarray, seed: int, config: SimusConfig, cache_dir: Path | None = None
) -> np.ndarray:
    """:func:`simulate_envelope` with ``default_rng(seed)``, cached as ``.npy``.

    The cache key hashes the echogenicity map, the seed and the config; the folder is
    ``cache_dir/simus`` or :func:`usbench.paths.simus_dir` (``$USBENCH_CACHE/simus``).
    """
    key = hashlib.sha256(
        np.ascontiguousarray(echogenicity, dtype=np.float64).tobytes()
        + repr((seed, sorted(asdict(config).items()))).encode()
    ).hexdigest()[:20]
    folder = Path(cache_dir) / "simus" if cache_dir else paths.simus_dir()
    path = folder / f"{key}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    envelope = simulate_envelope(echogenicity, np.random.default_rng(seed), config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, envelope, allow_pickle=False)
    os.replace(tmp, path)
    return envelope


def scan_convert(polar: np.ndarray, config: SimusConfig, size: int) -> np.ndarray:
    """Draw a polar image (``depth × scan line``, as :func:`simulate_envelope` returns it)
    as the fan it images, on a ``size×size`` float32 image (black outside the sector).

    The probe's curvature centre (the apex) sits above the image on the centre column,
    scaled so that the sector's bounding box fills the image.
    """
    pm = require_pymust()
    sector = _sector(pm.getparam(config.probe), config)
    return _fan_from_polar(polar, sector.r, config.half_angle, size)


def _fan_from_polar(
    polar: np.ndarray, radii: tuple[float, float], half_angle: float, size: int
) -> np.ndarray:
    r0, r1 = radii
    top = r0 * np.cos(half_angle)
    scale = size / max(2 * r1 * np.sin(half_angle), r1 - top)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    y = yy / scale + top  # distance below the apex (m)
    x = (xx - size / 2) / scale
    radius, angle = np.hypot(x, y), np.arctan2(x, y)
    rows = (radius - r0) / (r1 - r0) * (polar.shape[0] - 1)
    cols = (angle + half_angle) / (2 * half_angle) * (polar.shape[1] - 1)
    image = ndimage.map_coordinates(polar.astype(np.float64), [rows, cols], order=1, cval=0.0)
    inside = (radius >= r0) & (radius <= r1) & (np.abs(angle) <= half_angle)
    return np.where(inside, image, 0.0).astype(np.float32)
