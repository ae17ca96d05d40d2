"""Pleural line and B-line detection in lung ultrasound images.

Method (a Radon projection in the scan-line domain):

1. The image is resampled onto a (depth × scan line) grid with
   :meth:`usbench.metrics._lib.fan_geometry.FanGeometry.scanlines`; there, B-lines (vertical
   reverberation artefacts that start at the pleura and run along the beam to the bottom)
   are vertical and the pleura (a bright interface at one depth) is horizontal, whatever
   the probe.
2. Pleura: the depth whose median brightness across scan lines (the median ignores
   B-lines) forms the shallowest strong thin ridge in the upper ``pleura_search`` part
   of the image (A-lines, its reverberations, lie deeper).
   Pleural coverage: the fraction of scan lines outside rib shadows on which the pleural
   ridge is at least ``pleura_contrast`` times the rows a few pixels above and below it;
   the pleura is continuous when the longest gap stays below ``max_gap`` of those lines.
3. B-lines: below the pleura, every row is divided by its ``baseline_quantile`` across
   the scan lines outside rib shadows (a quantile below the median stays on the lung
   background when B-lines fill most lines), so horizontal structures (A-lines,
   attenuation) cancel. The vertical Radon projection
   (mean over depth) of that ratio image is a lateral profile in which each B-line is a
   peak; divided by its running median over ``lateral_window`` of the width (so a B-line
   must be narrow and brighter than its neighbourhood), peaks higher than
   ``1 + bline_contrast`` whose brightness extends over at least
   ``min_extent`` of the depth below the pleura, separated by ``min_separation`` of the
   width, are counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from usbench.metrics._lib.fan_geometry import FanGeometry


@dataclass(frozen=True)
class LineDetectorConfig:
    """Thresholds of the detector; defaults tuned on the procedural lung phantom.

    n_depth, n_lines: scan-line grid size [>= 2].
    pleura_search: fraction of the depth searched for the pleura (0, 1].
    pleura_contrast, max_gap: pleural coverage and continuity rule [>= 0].
    bline_contrast, min_extent, min_separation: B-line rule (see module docstring) [>= 0].
    baseline_quantile: quantile across lit scan lines taken as each row's background [0, 1].
    lateral_window: width (fraction of the scan lines) of the running lateral median a
        B-line must outshine; 0 compares with the whole row only. Broad bright regions
        between rib shadows then do not count as B-lines [0, 1].
    """

    n_depth: int = 96
    n_lines: int = 96
    pleura_search: float = 0.6
    pleura_contrast: float = 1.1
    max_gap: float = 0.1
    bline_contrast: float = 0.6
    min_extent: float = 0.5
    min_separation: float = 0.06
    lateral_window: float = 0.0
    baseline_quantile: float = 0.25


@dataclass(frozen=True)
class LineDetection:
    """What the detector found in one image.

    pleura_depth: pleura position as a fraction of the imaged depth, in [0, 1].
    pleura_coverage: fraction of scan lines showing the pleural band, in [0, 1].
    pleura_continuous: no gap wider than ``max_gap`` of the width.
    bline_positions: lateral positions of the B-lines as fractions of the width
        (0 = leftmost scan line, 1 = rightmost).
    lateral_profile: the Radon profile (``n_lines`` floats) the B-lines were read from.
    """

    pleura_depth: float
    pleura_coverage: float
    pleura_continuous: bool
    bline_positions: tuple[float, ...]
    lateral_profile: np.ndarray = field(repr=False)

    @property
    def bline_count(self) -> int:
        """Number of B-lines."""
        return len(self.bline_positions)


def detect_lines(
    image: np.ndarray, geometry: FanGeometry, config: LineDetectorConfig = LineDetectorConfig()
) -> LineDetection:
    """Detect the pleura and the B-lines in one ``H×W`` float image in [0, 1]."""
    with warnings.catch_warnings():  # empty (all-NaN) rows of a cropped fan are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return _detect(image, geometry, config)


def _detect(image: np.ndarray, geometry: FanGeometry, config: LineDetectorConfig) -> LineDetection:
    scan = _smooth_ignoring_nan(geometry.scanlines(image, config.n_depth, config.n_lines), 1.0)
    pleura_row = find_pleura_row(scan, config.pleura_search)
    coverage, continuous = pleural_coverage(scan, pleura_row, config)
    positions, profile = find_blines(scan, pleura_row, config)
    return LineDetection(
        pleura_depth=pleura_row / (config.n_depth - 1),
        pleura_coverage=coverage,
        pleura_continuous=continuous,
        bline_positions=positions,
        lateral_profile=profile,
    )


def find_pleura_row(scan: np.ndarray, search: float) -> int:
    """Row of the pleura: the shallowest strong horizontal ridge in the top ``search``
    fraction of ``scan``.

    Ridge strength is the median brightness across scan lines minus the mean of the
    rows 4 above and 4 below (a top-hat), so a thin bright interface beats a broad bright
    near field; the first 5 % of the depth (skin, probe ring-down) is skipped. A-lines
    (reverberations of the pleura at multiples of its depth) can form stronger ridges than
    the pleura itself, so the shallowest local maximum reaching half the strongest wins.
    """
    rows = max(12, int(search * scan.shape[0]))
    median_row = np.nan_to_num(np.nanmedian(scan[:rows], axis=1), nan=0.0)
    median_row = ndimage.gaussian_filter1d(median_row, 1.0)
    padded = np.pad(median_row, 4, mode="edge")
    ridge = median_row - 0.5 * (padded[:-8] + padded[8:])
    start = max(1, int(0.05 * scan.shape[0]))
    ridge[:start] = -np.inf
    ridge[-1] = -np.inf
    peaks, _ = signal.find_peaks(ridge)
    strong = [p for p in peaks if ridge[p] >= 0.5 * ridge.max()]
    return int(strong[0]) if strong else int(np.argmax(ridge))


def pleural_coverage(
    scan: np.ndarray, pleura_row: int, config: LineDetectorConfig
) -> tuple[float, bool]:
    """Fraction of unshadowed scan lines showing a bright pleural ridge, and whether the
    longest run of unshadowed lines without it is shorter than ``max_gap`` of them.

    Per line (smoothed across lines so speckle does not decide), the ridge is the
    brightest row within ±2 rows of ``pleura_row``; the line shows the pleura when it
    reaches ``pleura_contrast`` times the mean of the rows 4–6 above and 4–6 below it
    (a top-hat: on log-compressed images the chest wall is nearly as bright as the pleura,
    so the lung below must be part of the reference).
    Rib shadows (lines whose mean below the pleura is under a third of the median
    line's) hide the pleura and are left out, as a reader does.
    """
    smooth = _smooth_ignoring_nan(scan, (1.0, 3.0))
    n = scan.shape[0]
    rows = np.arange(max(pleura_row - 2, 6), min(pleura_row + 3, n - 6))
    if rows.size == 0:
        return 0.0, False
    ridge = np.nanmax(smooth[rows], axis=0)
    peak = rows[np.nanargmax(np.nan_to_num(smooth[rows], nan=-np.inf), axis=0)]
    cols = np.arange(scan.shape[1])
    flanks = [smooth[peak + k, cols] for k in (-6, -5, -4, 4, 5, 6)]
    reference = np.nanmean(np.stack(flanks), axis=0)
    valid = np.isfinite(ridge) & np.isfinite(reference)
    unshadowed = ~shadowed_lines(scan, pleura_row) & valid
    if not unshadowed.any():
        return 0.0, False
    present = ridge[unshadowed] > config.pleura_contrast * reference[unshadowed]
    longest_gap = _longest_run(~present)
    return float(present.mean()), longest_gap < config.max_gap * len(present)


def shadowed_lines(scan: np.ndarray, pleura_row: int) -> np.ndarray:
    """Bool per scan line: a rib shadow (or no data), i.e. the mean below the pleura is
    under a third of the median line's."""
    below = np.nanmean(scan[pleura_row + 3 :], axis=0)
    valid = np.isfinite(below)
    if not valid.any():
        return np.ones(scan.shape[1], dtype=bool)
    return ~valid | (below < np.nanmedian(below[valid]) / 3.0)


def find_blines(
    scan: np.ndarray, pleura_row: int, config: LineDetectorConfig
) -> tuple[tuple[float, ...], np.ndarray]:
    """Lateral positions (fractions of the width) of B-lines below ``pleura_row``."""
    below = scan[min(pleura_row + 4, scan.shape[0] - 2) :]
    below = below[np.isfinite(below).mean(axis=1) >= 0.8]  # rows the fan spans fully
    lit = below[:, ~shadowed_lines(scan, pleura_row)]  # rib shadows would lower the median
    baseline = np.nanquantile(lit if lit.size else below, config.baseline_quantile, axis=1)
    ratio = below / np.maximum(baseline[:, None], 1e-6)
    profile = np.nan_to_num(np.nanmean(ratio, axis=0), nan=1.0)
    profile = ndimage.gaussian_filter1d(profile, 1.0)
    if config.lateral_window > 0:  # compare with the lateral neighbourhood, not the row
        size = max(3, int(config.lateral_window * len(profile)) | 1)
        baseline = ndimage.median_filter(profile, size=size, mode="nearest")
        ratio = ratio / baseline[None, :]
        profile = profile / baseline
    extent = np.nanmean(ratio > 1.0 + config.bline_contrast / 2, axis=0)
    peaks, _ = signal.find_peaks(
        profile,
        height=1.0 + config.bline_contrast,
        distance=max(1, int(config.min_separation * len(profile))),
    )
    peaks = [p for p in peaks if extent[max(p - 1, 0) : p + 2].max() >= config.min_extent]
    width = len(profile) - 1
    return tuple(float(p) / width for p in peaks), profile


def _smooth_ignoring_nan(values: np.ndarray, sigma: float | tuple[float, float]) -> np.ndarray:
    """Gaussian smoothing of a 2-D array with NaN holes (normalised convolution)."""
    valid = np.isfinite(values)
    smooth = ndimage.gaussian_filter(np.where(valid, values, 0.0), sigma)
    weight = ndimage.gaussian_filter(valid.astype(np.float64), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, smooth / weight, np.nan)


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best
