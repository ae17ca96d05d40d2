"""Small statistics shared by metrics and reports: bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bootstrap_ci(
    values: np.ndarray | list[float],
    *,
    seed: int,
    n_boot: int = 1000,
    statistic: Callable[..., float] = np.mean,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values``.

    ``values`` is a 1-D array of per-sample numbers (NaNs are not allowed). Draws
    ``n_boot`` resamples of the same size with replacement from a
    ``numpy.random.default_rng(seed)`` and returns the ``(1-level)/2`` and
    ``(1+level)/2`` quantiles of the statistic, as floats. With fewer than two values
    the interval collapses to the statistic itself.
    ``statistic`` must accept ``axis=`` (numpy reductions do) or work on a 1-D array.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError("bootstrap_ci got NaN or infinite values; drop them first")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if arr.size < 2:
        point = float(statistic(arr))
        return point, point
    rng = np.random.default_rng(seed)
    resamples = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))]
    try:
        stats = np.asarray(statistic(resamples, axis=1), dtype=np.float64)
    except TypeError:
        stats = np.array([statistic(row) for row in resamples], dtype=np.float64)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)
