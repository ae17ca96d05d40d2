"""Fréchet distance at several sample sizes: FD∞ and the real-data split baseline.

FD∞ (Chong & Forsyth 2020, "Effectively unbiased FID and Inception Score and where to
find them"): FID_N is, to first order, linear in 1/N, ``FID_N = FID_∞ + c / N``. Compute
FID on random subsets (without replacement) of the generated features at ``n_points``
sizes evenly spaced from ``N_min`` to ``N`` (the authors' code: 15 sizes from 5 000 to
50 000, one subset per size), fit an ordinary least-squares line in ``1/N`` and report
its intercept. The interval is the intercept's 95 % t-interval from the fit.

The real-data split baseline (the denominator of relative FD, Woodland et al. 2024) is
the FD between two disjoint random halves of the real set.

Subsets are drawn after sorting the feature rows lexicographically, so the result does
not depend on the order the images came in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from usbench.metrics._lib.frechet import frechet_distance


def canonical_order(x: np.ndarray) -> np.ndarray:
    """``x``'s rows sorted lexicographically (first column first)."""
    return x[np.lexsort(x.T[::-1])]


@dataclass(frozen=True)
class Extrapolation:
    """An FD∞ fit.

    value: the intercept (FD at 1/N = 0); slope: the fitted ``c``.
    sizes: the subset sizes (``n_points``); distances: FD at each size.
    ci_low, ci_high: the intercept's 95 % t-interval (``nan`` with fewer than 3 sizes).
    """

    value: float
    slope: float
    sizes: np.ndarray
    distances: np.ndarray
    ci_low: float
    ci_high: float


def subset_sizes(n: int, *, n_points: int, min_fraction: float) -> np.ndarray:
    """``n_points`` integer sizes from ``max(2, ceil(min_fraction·n))`` to ``n``."""
    low = max(2, int(np.ceil(min_fraction * n)))
    return np.linspace(low, n, n_points).astype(np.int64)


def fd_infinity(
    generated: np.ndarray,
    real: np.ndarray,
    *,
    n_points: int,
    min_fraction: float,
    seed: int,
    distance: Callable[[np.ndarray, np.ndarray], float] = frechet_distance,
) -> Extrapolation:
    """FD∞ of ``generated`` (``N×d``) against the whole ``real`` set (``M×d``)."""
    sizes = subset_sizes(len(generated), n_points=n_points, min_fraction=min_fraction)
    if len(np.unique(sizes)) < 2:
        raise ValueError(f"FD∞ needs at least two distinct subset sizes (got {sizes.tolist()})")
    rows = canonical_order(np.asarray(generated, np.float64))
    rng = np.random.default_rng(seed)
    distances = np.array(
        [distance(rows[rng.permutation(len(rows))[:size]], real) for size in sizes]
    )
    fit = stats.linregress(1.0 / sizes, distances)
    if len(sizes) > 2:
        half = stats.t.ppf(0.975, len(sizes) - 2) * fit.intercept_stderr
    else:
        half = float("nan")
    return Extrapolation(
        value=float(fit.intercept),
        slope=float(fit.slope),
        sizes=sizes,
        distances=distances,
        ci_low=float(fit.intercept - half),
        ci_high=float(fit.intercept + half),
    )


def split_half_distances(
    real: np.ndarray,
    *,
    n_splits: int,
    seed: int,
    distance: Callable[[np.ndarray, np.ndarray], float] = frechet_distance,
) -> np.ndarray:
    """FD between two disjoint random halves of ``real`` (``M×d``, ``M >= 4``), for each
    of ``n_splits`` seeded splits (an odd image out is left out)."""
    if len(real) < 4:
        raise ValueError("splitting the real set in halves needs at least 4 images")
    rows = canonical_order(np.asarray(real, np.float64))
    rng = np.random.default_rng(seed)
    half = len(rows) // 2
    out = np.empty(n_splits)
    for i in range(n_splits):
        order = rng.permutation(len(rows))
        out[i] = distance(rows[order[:half]], rows[order[half : 2 * half]])
    return out
