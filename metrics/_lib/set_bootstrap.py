"""Intervals for distances between two image sets: the two-sample bootstrap and
half-sampling without replacement (and re-export of :func:`usbench.stats.bootstrap_ci`
for per-sample means)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from usbench.metrics._lib import rows as row_blocks
from usbench.protocols import MetricResult
from usbench.stats import bootstrap_ci

__all__ = ["bootstrap_ci", "half_subsample_ci", "set_distance_result", "two_sample_bootstrap_ci"]


def two_sample_bootstrap_ci(
    real: np.ndarray,
    generated: np.ndarray,
    distance: Callable[[np.ndarray, np.ndarray], float],
    *,
    seed: int,
    n_boot: int = 200,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``distance(real, generated)`` resampling both sets.

    ``real`` and ``generated`` are arrays whose first axis indexes images (``N×...``);
    each bootstrap draw resamples the rows of both with replacement, independently.
    Returns ``(low, high)`` floats; with fewer than two rows in either set the interval
    collapses to the point value.
    """
    point = float(distance(real, generated))
    if len(real) < 2 or len(generated) < 2:
        return point, point
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        r = real[rng.integers(0, len(real), len(real))]
        g = generated[rng.integers(0, len(generated), len(generated))]
        stats[b] = distance(r, g)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def set_distance_result(
    real: np.ndarray,
    generated: np.ndarray,
    distance: Callable[[np.ndarray, np.ndarray], float],
    per_sample: np.ndarray,
    *,
    seed: int,
    details: dict,
    value: float | None = None,
) -> MetricResult:
    """The result of a set-vs-set distance: ``value`` = ``distance(real, generated)``
    (unless given), spread and ``n`` from the generated images' ``per_sample`` values,
    the interval from :func:`two_sample_bootstrap_ci`."""
    low, high = two_sample_bootstrap_ci(real, generated, distance, seed=seed)
    return MetricResult(
        value=float(distance(real, generated)) if value is None else value,
        spread=float(per_sample.std()),
        n=len(per_sample),
        per_sample=per_sample,
        ci_low=low,
        ci_high=high,
        details=details,
    )


def half_subsample_ci(
    rows: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    seed: int,
    n_draws: int = 200,
    level: float = 0.95,
    lazy: bool = False,
) -> tuple[float, float]:
    """Interval of ``statistic(rows)`` by half-sampling without replacement.

    ``rows`` (``N×...``, first axis images) are put in a canonical order (lexicographic,
    so the result does not depend on the order they came in); each draw keeps a random
    ``m = ⌊N/2⌋`` of them, without replacement, so no image is ever duplicated (the
    bootstrap's duplicates inflate FID). The draws are centred on their own mean, which
    removes the extra small-sample bias of the size-``m`` statistic, and scaled by
    ``√(m/(N-m))`` (the finite-population factor that turns the spread of a size-``m``
    subsample around the full sample into the sampling spread of the full sample; 1 for
    ``m = N/2``), giving the m-out-of-n subsampling interval of Politis & Romano (1994):
    ``[θ - s·q_hi, θ - s·q_lo]`` with ``q`` the quantiles of the centred draws.
    Needs ``N >= 4``; below that it collapses to the point value.

    ``lazy``: ``rows`` is ``N×d`` (e.g. a memory map) and ``statistic`` takes a
    :class:`~usbench.metrics._lib.rows.RowSubset`: neither the canonical order nor a draw
    is ever gathered whole (the same rows in the same order, so the same values).
    """
    point = float(statistic(rows))
    n = len(rows)
    if n < 4:
        return point, point
    if lazy:
        order = row_blocks.canonical_index(rows)
        draw = lambda index: row_blocks.subset(rows, order[index])  # noqa: E731
    else:
        sorted_rows = rows[np.lexsort(rows.reshape(n, -1).T[::-1])]
        draw = lambda index: sorted_rows[index]  # noqa: E731
    m = n // 2
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(draw(rng.permutation(n)[:m])) for _ in range(n_draws)])
    centred = draws - draws.mean()
    scale = np.sqrt(m / (n - m))
    q_lo, q_hi = np.quantile(centred, [(1 - level) / 2, (1 + level) / 2])
    return point - scale * float(q_hi), point - scale * float(q_lo)
