"""Data-copying statistics on feature rows: authenticity and the C_T test.

Authenticity (Alaa et al. 2022, "How faithful is your synthetic data? Sample-level
metrics for evaluating and auditing generative models", §3.3): a generated point is
unauthentic when it sits closer to its nearest real point ``r*`` than ``r*``'s own nearest
real neighbour does (it lies inside ``r*``'s nearest-neighbour ball, i.e. looks like a
copy of ``r*`` rather than a new draw); authenticity is the share of authentic points.

C_T (Meehan, Chaudhuri & Dasgupta 2020, "A non-parametric test to detect data-copying
in generative models"): partition the space into cells by k-means on the training set
``T``; in each cell compare the distances to the nearest training point of held-out test
points ``P_n`` and of generated points ``Q_m`` with the Mann–Whitney U test,
``Z_U = (U - mn/2) / √(mn(m+n+1)/12)`` where ``U`` counts (test, generated) pairs with the
generated point farther (ties ½). ``C_T`` is the average of ``Z_U`` over the cells holding
at least a share ``tau`` of the generated points, weighted by each cell's share of test
points. ``C_T ≪ 0``: generated points are closer to the training data than fresh data
is (copying); ``≈ 0``: no evidence; ``≫ 0``: underfitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

from usbench.metrics._lib.kmeans import assign, kmeans
from usbench.metrics._lib.nearest import nearest_rows


def authentic_mask(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Per generated row (``M``), 1.0 if authentic against ``real`` (``N×d``, N >= 2)."""
    own_radius, _ = nearest_rows(real, real, exclude_self=True)  # nearest real neighbour
    distance, nearest = nearest_rows(generated, real)
    return (distance > own_radius[nearest]).astype(float)


@dataclass(frozen=True)
class CTResult:
    """C_T and its cells.

    value: C_T (``nan`` when no cell qualifies); z: ``Z_U`` per cell (``nan`` if skipped);
    test_share, generated_share: each cell's share of the test / generated points.
    """

    value: float
    z: np.ndarray
    test_share: np.ndarray
    generated_share: np.ndarray


def mann_whitney_z(test_distances: np.ndarray, generated_distances: np.ndarray) -> float:
    """``Z_U`` of generated vs test distances (negative: generated closer)."""
    m, n = len(generated_distances), len(test_distances)
    u = mannwhitneyu(generated_distances, test_distances, method="asymptotic").statistic
    return float((u - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12))


def ct_statistic(
    train: np.ndarray,
    test: np.ndarray,
    generated: np.ndarray,
    *,
    n_cells: int,
    tau: float,
    seed: int,
) -> CTResult:
    """C_T of ``generated`` (``M×d``) against ``train`` (``T×d``), with ``test``
    (``N×d``) as the fresh sample; cells by scikit-learn's k-means (``n_init=10``, seeded)
    on ``train``, run over row blocks (:func:`usbench.metrics._lib.kmeans.kmeans`)."""
    cells = kmeans(train, n_cells, n_init=10, seed=seed)
    test_cells, gen_cells = assign(test, cells.centres), assign(generated, cells.centres)
    test_dist, _ = nearest_rows(test, train)
    gen_dist, _ = nearest_rows(generated, train)
    test_share = np.bincount(test_cells, minlength=n_cells) / len(test)
    gen_share = np.bincount(gen_cells, minlength=n_cells) / len(generated)
    z = np.full(n_cells, np.nan)
    for cell in range(n_cells):
        if gen_share[cell] >= tau and gen_share[cell] > 0 and test_share[cell] > 0:
            z[cell] = mann_whitney_z(test_dist[test_cells == cell], gen_dist[gen_cells == cell])
    kept = ~np.isnan(z)
    value = (
        float((test_share[kept] * z[kept]).sum() / test_share[kept].sum())
        if kept.any()
        else float("nan")
    )
    return CTResult(value, z, test_share, gen_share)
