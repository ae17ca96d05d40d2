"""Fréchet distance between Gaussians fitted to feature sets, and the kernel MMD (KID).

For feature matrices ``X`` (``n₁×d``) and ``Y`` (``n₂×d``) with centred versions ``A``,
``B`` and unbiased covariances ``Σx = AᵀA/(n₁-1)``, ``Σy = BᵀB/(n₂-1)``::

    FD = |μx - μy|² + tr Σx + tr Σy - 2 tr (Σx Σy)^{1/2}

``tr (Σx Σy)^{1/2}`` is computed exactly without a matrix square root: the non-zero
eigenvalues of ``Σx Σy`` are the squared singular values of ``A Bᵀ / √((n₁-1)(n₂-1))``
(an ``n₁×n₂`` matrix, cheap when there are fewer samples than dimensions, as for FID at
small N), or equivalently of ``Lxᵀ Σy Lx``'s eigenvalues with ``Σx = Lx Lxᵀ`` (a
``d×d`` route, cheap for SIFID's thousands of 64-d vectors). Both are the formula of
Heusel et al. (2017) without scipy's ``sqrtm`` round-off.

Feature rows (arrays, memory maps or :class:`~usbench.metrics._lib.rows.RowSubset`) are
read in row blocks (:mod:`usbench.metrics._lib.rows`): means, centred sums of squares
and ``AᵀA`` are accumulated over blocks in two passes, ``A Bᵀ`` (``n₁·n₂ <= d²``) is
filled block by block, so no ``n×d`` temporary is made.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from usbench.metrics._lib import rows
from usbench.metrics._lib.rows import Rows


def psd_root(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root ``Σ^{1/2}`` of a PSD ``d×d`` matrix (negative round-off
    eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _psd_product_eigenvalues(root_a: np.ndarray, cov_b: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``Σa Σb`` through the symmetric ``Σa^{1/2} Σb Σa^{1/2}``, given
    ``root_a`` = ``Σa^{1/2}`` (:func:`psd_root`; its ``eigh`` with vectors is the most
    expensive step, so a side compared many times keeps it)."""
    return np.linalg.eigvalsh(root_a @ cov_b @ root_a)


def rank_warning(n: int, dims: int) -> str | None:
    """A note for a score's details when ``n`` feature vectors cannot give a full-rank
    ``dims×dims`` covariance (the Fréchet distance is then biased and unstable), else None."""
    if n > dims:
        return None
    return f"N={n} <= {dims} feature dims: the covariance is rank-deficient"


class Reference:
    """Feature rows ``y`` (``n×d``) with their mean, centred sum of squares and (on first
    use) scatter matrix computed once, for repeated distances against the same set."""

    def __init__(self, y: Rows) -> None:
        self.rows = y
        self.mu = rows.mean(y)
        self.sum_of_squares = rows.centred_sum_of_squares(y, self.mu)

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def scatter(self) -> np.ndarray:
        """``Σ (y_i - μ)ᵀ(y_i - μ)`` (``d×d``)."""
        return rows.scatter(self.rows, self.mu)

    @cached_property
    def covariance_root(self) -> np.ndarray:
        """``Σ^{1/2}`` of the unbiased covariance (``d×d``): the ``d×d`` route of
        :func:`frechet_distance` needs one side's root, and a set compared many times
        (FID's reference against 200 subsample draws) gives it once."""
        return psd_root(self.scatter / (len(self) - 1))


def frechet_distance(x: Rows | Reference, y: Rows | Reference) -> float:
    """FD between Gaussians fitted to feature rows ``x`` (``n₁×d``) and ``y`` (``n₂×d``):
    arrays, :class:`~usbench.metrics._lib.rows.RowSubset` or :class:`Reference`. Rows are
    read in blocks, so no ``n×d`` temporary is made. ``n₁·n₂ <= d²``: the trace term from
    the singular values of the ``n₁×n₂`` ``A Bᵀ``; else from the ``d×d`` covariances, through
    ``y``'s covariance root (kept on a :class:`Reference`, so pass the set that is compared
    repeatedly as ``y``)."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the Fréchet distance needs at least 2 feature vectors per set")
    x, y = (v if isinstance(v, Reference) else Reference(v) for v in (x, y))
    n1, n2, d = len(x), len(y), x.rows.shape[1]
    if n1 * n2 <= d * d:
        cross = rows.centred_cross(x.rows, x.mu, y.rows, y.mu)
        scale = np.sqrt((n1 - 1) * (n2 - 1))
        trace_sqrt = float(np.linalg.svd(cross, compute_uv=False).sum() / scale)
    else:  # Σy^{1/2} Σx Σy^{1/2} has the eigenvalues of Σx Σy; y's root is cached
        eig = _psd_product_eigenvalues(y.covariance_root, x.scatter / (n1 - 1))
        trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    tr_x, tr_y = x.sum_of_squares / (n1 - 1), y.sum_of_squares / (n2 - 1)
    diff = x.mu - y.mu
    return float(diff @ diff + tr_x + tr_y - 2.0 * trace_sqrt)


def frechet_distance_to_moments(
    x: Rows, mu_y: np.ndarray, sigma_y: np.ndarray, *, sigma_root: np.ndarray | None = None
) -> float:
    """FD between feature rows ``x`` (``n×d``) and a Gaussian given by its moments
    (``mu_y`` ``d``, ``sigma_y`` ``d×d``, e.g. pytorch-fid's saved ``mu``/``sigma``).

    With ``A`` the centred ``x`` and ``Σx = AᵀA/(n-1)``, the non-zero eigenvalues of
    ``Σx Σy`` are those of the symmetric PSD ``A Σy Aᵀ/(n-1)`` (``n×n``), so the trace
    term needs no matrix square root. That route (``n <= d``) holds ``A`` whole, at most
    ``d×d`` values; above it ``Σx`` is accumulated in row blocks and the trace term
    comes from ``Σy^{1/2} Σx Σy^{1/2}``: ``sigma_root`` (:func:`psd_root` of ``sigma_y``)
    saves recomputing the root when the same moments are compared many times.
    """
    mu_y, sigma_y = np.asarray(mu_y, np.float64), np.asarray(sigma_y, np.float64)
    if len(x) < 2:
        raise ValueError("the Fréchet distance needs at least 2 feature vectors")
    mu_x = rows.mean(x)
    n, d = x.shape
    if n <= d:
        a = rows.gathered(x) - mu_x
        eig = np.linalg.eigvalsh(a @ sigma_y @ a.T / (n - 1))
        tr_x = float((a * a).sum() / (n - 1))
    else:  # fewer dimensions than samples: the d×d route
        scatter = rows.scatter(x, mu_x)
        root = psd_root(sigma_y) if sigma_root is None else sigma_root
        eig = _psd_product_eigenvalues(root, scatter / (n - 1))
        tr_x = float(np.trace(scatter) / (n - 1))
    trace_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu_x - mu_y
    return float(diff @ diff + tr_x + np.trace(sigma_y) - 2.0 * trace_sqrt)


def mean_and_covariance(x: Rows) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of rows ``x`` (``n×d``): the mean and the unbiased (``n-1``)
    covariance, as ``x.mean(0)`` and ``np.cov(x, rowvar=False)``, in row blocks."""
    mu = rows.mean(x)
    return mu, rows.scatter(x, mu) / (len(x) - 1)


def frechet_from_moments(
    mu_x: np.ndarray, cov_x: np.ndarray, mu_y: np.ndarray, cov_y: np.ndarray
) -> np.ndarray:
    """Batched FD from moments: ``mu`` ``B×d``, ``cov`` ``B×d×d`` (float64) → ``B``.

    Uses numpy's batched LAPACK ``eigh`` (torch's CPU batched ``eigh`` is ~20× slower).
    """
    w, v = np.linalg.eigh(cov_y)
    root = (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(v, -1, -2)
    eig = np.clip(np.linalg.eigvalsh(root @ cov_x @ root), 0.0, None)
    diff = mu_x - mu_y
    trace = np.trace(cov_x, axis1=-2, axis2=-1) + np.trace(cov_y, axis1=-2, axis2=-1)
    return (diff * diff).sum(-1) + trace - 2.0 * np.sqrt(eig).sum(-1)


def spatial_moments(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of each map's spatial vectors.

    ``maps`` ``N×C×h×w`` → ``(mu N×C, cov N×C×C)`` in float64; each image's ``h·w``
    positions are its samples (SinGAN's SIFID statistics).
    """
    x = maps.double().flatten(2).transpose(1, 2)  # N × (h·w) × C
    if x.shape[1] < 2:
        raise ValueError("feature maps need at least 2 spatial positions; use larger images")
    mu = x.mean(1)
    centred = x - mu.unsqueeze(1)
    cov = centred.transpose(1, 2) @ centred / (x.shape[1] - 1)
    return mu, cov


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the cubic kernel ``k(a, b) = (a·b/d + 1)³`` (KID, Bińkowski 2018)."""
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    sum_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    sum_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2.0 * k_xy.mean())


def kid_subsets(
    x: np.ndarray, y: np.ndarray, *, n_subsets: int, subset_size: int, seed: int
) -> np.ndarray:
    """KID on ``n_subsets`` random subsets (without replacement within a subset).

    ``subset_size`` is capped at the smaller set's size. Returns one MMD² per subset.
    """
    size = min(subset_size, x.shape[0], y.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 images in each set")
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        xs = x[rng.choice(x.shape[0], size, replace=False)]
        ys = y[rng.choice(y.shape[0], size, replace=False)]
        values[i] = polynomial_mmd2_unbiased(xs, ys)
    return values
