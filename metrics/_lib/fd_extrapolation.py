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
not depend on the order the images came in. Subsets are index lists over the feature rows,
read in blocks (:mod:`usbench.metrics._lib.rows`), never gathered whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from usbench.metrics._lib import rows as row_blocks
from usbench.metrics._lib.frechet import Reference, frechet_distance
from usbench.metrics._lib.rows import Rows, RowSubset, subset


def canonical_order(x: Rows) -> RowSubset:
    """``x``'s rows sorted lexicographically (first column first), gathered lazily."""
    return subset(x, row_blocks.canonical_index(x))


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
    generated: Rows,
    real: Rows,
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
    order = row_blocks.canonical_index(generated)
    if distance is frechet_distance:
        real = Reference(real)  # its moments once, not once per size
    rng = np.random.default_rng(seed)
    distances = np.array(
        [
            distance(subset(generated, order[rng.permutation(len(order))[:size]]), real)
            for size in sizes
        ]
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
    real: Rows,
    *,
    n_splits: int,
    seed: int,
    distance: Callable[[np.ndarray, np.ndarray], float] = frechet_distance,
) -> np.ndarray:
    """FD between two disjoint random halves of ``real`` (``M×d``, ``M >= 4``), for each
    of ``n_splits`` seeded splits (an odd image out is left out)."""
    if len(real) < 4:
        raise ValueError("splitting the real set in halves needs at least 4 images")
    canonical = row_blocks.canonical_index(real)
    rng = np.random.default_rng(seed)
    half = len(canonical) // 2
    out = np.empty(n_splits)
    for i in range(n_splits):
        order = canonical[rng.permutation(len(canonical))]
        out[i] = distance(subset(real, order[:half]), subset(real, order[half : 2 * half]))
    return out
