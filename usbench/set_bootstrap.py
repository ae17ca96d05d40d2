"""Bootstrap intervals for per-sample means and for distances between two image sets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:  # the shared implementation, when present
    from usbench.stats import bootstrap_ci
except ImportError:  # pragma: no cover - exercised only before usbench.stats exists

    def bootstrap_ci(
        values: np.ndarray | list[float],
        *,
        seed: int,
        n_boot: int = 1000,
        statistic: Callable[..., float] = np.mean,
        level: float = 0.95,
    ) -> tuple[float, float]:
        """Percentile bootstrap interval of ``statistic`` over 1-D ``values``."""
        arr = np.asarray(values, dtype=np.float64).ravel()
        if arr.size < 2:
            return float(statistic(arr)), float(statistic(arr))
        rng = np.random.default_rng(seed)
        stats = [statistic(arr[rng.integers(0, arr.size, arr.size)]) for _ in range(n_boot)]
        lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)


__all__ = ["bootstrap_ci", "two_sample_bootstrap_ci"]


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
