"""``usbench.score``: score images generated anywhere against real images, no store needed.

>>> import usbench
>>> usbench.score("data/real", "my_samples", metrics="fid,kid")  # doctest: +SKIP
  metric     value  spread  ci_low  ci_high   n status message variant
0    fid  41.2...     0.0    ...

The reference set (``real``) is what FID/KID/SIFID compare with (``EvalInputs.train``);
there is no held-out set, so metrics that need one report ``unavailable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from usbench.plugins import resolve_list
from usbench.reference_stats import (
    is_statistics_file,
    load_statistics,
    save_statistics,
    score_against_statistics,
)
from usbench.sample_sources import ImageSource, as_imageset, as_samples, infer_image_size
from usbench.scoring import score_metrics
from usbench.store import ScoreRow

SCORE_COLUMNS = ("metric", "value", "spread", "ci_low", "ci_high", "n", "status", "message")


def score(
    real: ImageSource,
    fake: ImageSource,
    *,
    metrics: str = "fid,kid",
    seed: int = 0,
    image_size: int | None = None,
) -> pd.DataFrame:
    """Score ``fake`` against ``real``; one row per metric.

    real, fake: a folder (loaded like the ``folder`` dataset), an ``N×1×H×W`` float tensor
        in ``[0, 1]``, an :class:`~usbench.data.imageset.ImageSet` or a
        :class:`~usbench.samples.SampleBatch`; ``real`` may also be a ``.npz`` of reference
        statistics (:mod:`usbench.reference_stats`; FID only, other metrics
        ``unavailable``), ``fake`` a ``.safetensors`` file or run folder of samples.
    metrics: a metric selector list (``"fid:layer=pool2,kid"``, ``"@default"``).
    image_size: side both folders are loaded at (default: the shorter side of the first
        real image, or the real tensor's width).

    Returns a DataFrame with columns ``metric`` (canonical selector), ``value``,
    ``spread``, ``ci_low``, ``ci_high``, ``n``, ``status`` (``ok``, ``unavailable`` or
    ``failed``), ``message`` (the reason when not ``ok``) and ``variant`` (a dict).
    """
    specs = resolve_list("metrics", metrics)  # a bad selector fails before any loading
    if is_statistics_file(real):
        stats = load_statistics(real)
        samples = as_samples(fake, image_size=image_size or infer_image_size(fake))
        return score_table(score_against_statistics(specs, samples, stats, seed))
    size = image_size or infer_image_size(real)
    reference = as_imageset(real, image_size=size)
    samples = as_samples(fake, image_size=size, class_names=reference.class_names)
    if samples.images.shape[-2:] != reference.images.shape[-2:]:
        raise ValueError(
            f"real images are {tuple(reference.images.shape[-2:])} and generated ones "
            f"{tuple(samples.images.shape[-2:])}; give images of one size (or folders)"
        )
    _, outcomes = score_metrics(specs, samples, reference, None, seed)
    return score_table([outcome.row for outcome in outcomes])


def save_stats(
    real: ImageSource, path: str | Path, *, image_size: int | None = None, metric: str = "fid"
) -> Path:
    """Save pytorch-fid-format statistics (``mu``, ``sigma`` of the pool3 features) of the
    real images to ``path`` (``.npz``), to score against later without the images."""
    size = image_size or infer_image_size(real)
    return save_statistics(as_imageset(real, image_size=size), path, metric=metric)


def score_table(rows: Sequence[ScoreRow]) -> pd.DataFrame:
    """Score rows as the DataFrame :func:`score` returns."""
    records = [
        {
            "metric": row.name,
            "value": row.value,
            "spread": row.spread,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "n": row.n,
            "status": row.status,
            "message": row.message,
            "variant": row.variant,
        }
        for row in rows
    ]
    return pd.DataFrame.from_records(records, columns=[*SCORE_COLUMNS, "variant"])
