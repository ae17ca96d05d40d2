"""k-NN manifold statistics (precision, recall, density, coverage) and the Vendi score.

All functions take float feature rows (``N×d``) and return plain floats / numpy arrays.

PRDC (Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing
generative models"; Naeem et al. 2020, "Reliable fidelity and diversity metrics for
generative models"): each point's k-NN radius is the Euclidean distance to its ``k``-th
nearest neighbour in its own set (itself excluded); a point lies inside the other set's
manifold when it is strictly closer than that point's radius to at least one of its
points.

* precision: share of generated points inside the real manifold;
* recall: share of real points inside the generated manifold;
* density: mean over generated points of (number of real balls containing it) / k;
* coverage: share of real points whose ball holds at least one generated point.

Vendi score (Friedman & Dieng 2023, "The Vendi Score: a diversity evaluation metric for
machine learning"): with a positive semi-definite similarity ``K`` (``K_ii = 1``), the
exponential of the order-``q`` Rényi entropy of the eigenvalues of ``K / n`` — the
effective number of distinct samples, between 1 (all identical) and ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from usbench.metrics._lib.nearest import distance_blocks, kth_neighbour_distance
from usbench.metrics._lib.rows import gathered, unit_gram


@dataclass(frozen=True)
class PRDC:
    """The four statistics and their per-point parts.

    precision, recall, density, coverage: the set statistics (floats).
    inside_real: per generated point, 1.0 if inside the real manifold (``N_gen``).
    real_balls: per generated point, how many real balls hold it, divided by k (``N_gen``).
    """

    precision: float
    recall: float
    density: float
    coverage: float
    inside_real: np.ndarray
    real_balls: np.ndarray


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` (``N×d``) to its ``k``-th nearest other row (``N``)."""
    if not 1 <= k < len(x):
        raise ValueError(f"k-NN radii need 1 <= k < N (k={k}, N={len(x)})")
    # the 0-th neighbour is the point itself (distance 0), as in Naeem et al.
    return kth_neighbour_distance(np.asarray(x, np.float64), k)


def prdc(real: np.ndarray, generated: np.ndarray, *, k: int = 5) -> PRDC:
    """Precision, recall, density and coverage of ``generated`` (``M×d``) against
    ``real`` (``N×d``) with ``k``-NN balls (both sets need more than ``k`` rows).

    The ``N×M`` distances are visited in blocks of real rows
    (:mod:`usbench.metrics._lib.nearest`), so memory stays flat in N; the values equal
    the full-matrix computation exactly.
    """
    real = np.asarray(real, np.float64)
    generated = np.asarray(generated, np.float64)
    real_radii, gen_radii = knn_radii(real, k), knn_radii(generated, k)
    balls_count = np.zeros(len(generated), np.int64)
    in_gen_manifold = np.empty(len(real), bool)
    covered = np.empty(len(real), bool)
    for rows, distances in distance_blocks(real, generated):  # block of real rows × M
        in_real_ball = distances < real_radii[rows, None]
        balls_count += in_real_ball.sum(axis=0)
        in_gen_manifold[rows] = (distances < gen_radii[None, :]).any(axis=1)
        covered[rows] = distances.min(axis=1) < real_radii[rows]
    real_balls = balls_count / k
    inside_real = (balls_count > 0).astype(np.float64)
    return PRDC(
        precision=float(inside_real.mean()),
        recall=float(in_gen_manifold.mean()),
        density=float(real_balls.mean()),
        coverage=float(covered.mean()),
        inside_real=inside_real,
        real_balls=real_balls,
    )


def cosine_similarity_matrix(x: np.ndarray) -> np.ndarray:
    """``N×N`` cosine similarities of the rows of ``x`` (rows scaled to unit length)."""
    x = np.asarray(x, np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("the cosine kernel is undefined for an all-zero feature vector")
    unit = x / norms
    return unit @ unit.T


def vendi_score(similarity: np.ndarray, *, q: float = 1.0) -> float:
    """exp of the order-``q`` entropy of the eigenvalues of ``similarity / n``.

    ``similarity`` is ``n×n`` symmetric PSD with a unit diagonal; ``q = 1`` is the
    Shannon entropy (the paper's default), ``q = inf`` the min-entropy.
    """
    n = similarity.shape[0]
    return _exp_entropy(np.linalg.eigvalsh(similarity / n), q)


def cosine_vendi_score(x: np.ndarray, *, q: float = 1.0) -> float:
    """:func:`vendi_score` of the cosine similarities of the rows of ``x`` (``n×d``).

    With ``n > d`` the ``n×n`` kernel is never formed: ``K/n = U Uᵀ/n`` (``U`` the unit
    rows) has the same non-zero eigenvalues as the ``d×d`` matrix ``Uᵀ U/n`` (as the
    ``vendi-score`` package's ``score_X`` does), so memory and time grow linearly in n;
    ``Uᵀ U`` is accumulated over row blocks (:func:`usbench.metrics._lib.rows.unit_gram`).
    """
    if len(x) <= x.shape[1]:  # the n×n kernel, at most d×d values
        return vendi_score(cosine_similarity_matrix(gathered(x)), q=q)
    return _exp_entropy(np.linalg.eigvalsh(unit_gram(x) / len(x)), q)


def _exp_entropy(eigenvalues: np.ndarray, q: float) -> float:
    p = eigenvalues[eigenvalues > 0]
    if q == 1.0:
        entropy = -(p * np.log(p)).sum()
    elif np.isinf(q):
        entropy = -np.log(p.max())
    else:
        entropy = np.log((p**q).sum()) / (1.0 - q)
    return float(np.exp(entropy))
