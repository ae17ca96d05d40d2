"""Reference statistics: share what FID needs of a real image set without the images.

A statistics file is pytorch-fid's ``.npz`` format: ``mu`` (``d``, the mean of the
Inception features) and ``sigma`` (``d×d``, their unbiased covariance), here of the
pool3 (2048-d) features of :class:`usbench.metrics.inception.FID`. pytorch-fid reads the
files usbench writes (``python -m pytorch_fid stats.npz my_samples``) and usbench reads
the files pytorch-fid writes (``--save-stats``). usbench adds two entries pytorch-fid
ignores: ``n`` (how many real images) and ``info`` (JSON: extractor, weights sha256,
preprocessing, image size).

Only metrics that implement :class:`StatisticsMetric` (FID) can be computed from such a
file; every other metric needs the images and is reported ``unavailable`` with that reason.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from usbench.data.imageset import ImageSet
from usbench.fileio import atomic_write_bytes
from usbench.plugins import PluginSpec, resolve_list
from usbench.protocols import Metric, MetricResult, MetricUnavailable
from usbench.samples import SampleBatch
from usbench.scoring import score_one
from usbench.store import ScoreRow

STATISTICS_SUFFIX = ".npz"


@runtime_checkable
class StatisticsMetric(Protocol):
    """A metric that can be computed against saved reference moments.

    ``statistics(real)`` returns ``{"mu": d, "sigma": d×d}`` float64 arrays of the real
    :class:`ImageSet`; ``compute_from_statistics(generated, stats, seed)`` scores a
    :class:`SampleBatch` against loaded :class:`ReferenceStatistics`.
    """

    def statistics(self, real: ImageSet) -> dict[str, np.ndarray]: ...

    def compute_from_statistics(
        self, generated: SampleBatch, stats: ReferenceStatistics, seed: int
    ) -> MetricResult: ...


@dataclass(frozen=True)
class ReferenceStatistics:
    """A loaded statistics file.

    mu: ``d`` float64. sigma: ``d×d`` float64. n: number of real images (``None`` when
    the file does not say, as pytorch-fid's). path: where it was read. sha256: of its bytes.
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    path: Path
    sha256: str


def is_statistics_file(source: object) -> bool:
    """True when ``source`` is a path (str or Path) ending in ``.npz``."""
    return isinstance(source, str | Path) and str(source).lower().endswith(STATISTICS_SUFFIX)


def save_statistics(real: ImageSet, path: str | Path, *, metric: str = "fid") -> Path:
    """Write pytorch-fid-format statistics of ``real`` (features of ``metric``, a FID
    selector such as ``fid`` or ``fid:layer=pool2``) to ``path`` atomically."""
    (spec,) = resolve_list("metrics", metric)
    fid = spec.build()
    if not isinstance(fid, StatisticsMetric):
        raise ValueError(f"{metric!r} cannot save statistics; use a FID selector such as 'fid'")
    moments = fid.statistics(real)
    info = {"metric": spec.selector, "data": real.name, **_info(fid, real)}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, mu=moments["mu"], sigma=moments["sigma"], n=len(real), info=json.dumps(info)
    )
    path = Path(path).expanduser()
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _info(metric: Metric, real: ImageSet) -> dict:
    variant = metric.variant()
    keep = ("extractor", "weights_sha256", "preprocessing", "layer", "dims")
    return {**{k: variant[k] for k in keep if k in variant}, "image_size": real.images.shape[-1]}


def load_statistics(path: str | Path) -> ReferenceStatistics:
    """Read a statistics file (``mu``, ``sigma``; optional ``n``); errors say what is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"statistics file {path} does not exist; check the path")
    raw = path.read_bytes()
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .npz file ({err})") from err
    if "mu" not in arrays or "sigma" not in arrays:
        raise ValueError(
            f"{path} holds {sorted(arrays)}, not 'mu' and 'sigma'; write it with "
            "usbench score REAL --save-stats FILE (or pytorch-fid --save-stats)"
        )
    mu, sigma = arrays["mu"].astype(np.float64), arrays["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: mu is {mu.shape} and sigma {sigma.shape}; expected d and d×d")
    n = int(arrays["n"]) if "n" in arrays else None
    return ReferenceStatistics(mu, sigma, n, path, hashlib.sha256(raw).hexdigest())


def score_against_statistics(
    specs: Sequence[PluginSpec], samples: SampleBatch, stats: ReferenceStatistics, seed: int
) -> list[ScoreRow]:
    """One row per metric: FID computed against ``stats``; every other metric
    ``unavailable`` because it needs the real images."""
    reference = {"reference": f"statistics {stats.path.name} (sha256 {stats.sha256[:16]})"}
    return [
        score_one(spec, lambda m: _from_statistics(m, samples, stats, seed), reference).row
        for spec in specs
    ]


def _from_statistics(
    metric: Metric, samples: SampleBatch, stats: ReferenceStatistics, seed: int
) -> MetricResult:
    if not isinstance(metric, StatisticsMetric):
        raise MetricUnavailable(
            f"needs images: {metric.name} cannot be computed from {stats.path.name}, which "
            "holds only the mean and covariance of Inception features (enough for FID alone).",
            "give the folder of real images instead of the statistics file",
        )
    return metric.compute_from_statistics(samples, stats, seed)
