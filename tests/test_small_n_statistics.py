"""Honest small-N statistics: FID's half-sampling interval, KID's subset policy, and no
"± 0" for a single run's set statistic in leaderboards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from usbench.metrics._lib.frechet import frechet_distance
from usbench.metrics._lib.set_bootstrap import half_subsample_ci, two_sample_bootstrap_ci
from usbench.metrics.inception import KID
from usbench.report import Column, to_latex, to_markdown


def test_half_subsample_interval_of_a_mean_matches_the_normal_interval():
    """For a mean, half-sampling without replacement reproduces ±1.96 σ/√N."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    lo, hi = half_subsample_ci(x, np.mean, seed=0, n_draws=2000)
    half_width = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert lo < x.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half_width, rel=0.1)


def test_half_subsample_interval_does_not_depend_on_image_order():
    x = np.random.default_rng(1).normal(size=(30, 3))
    stat = lambda rows: float(rows.mean())  # noqa: E731
    assert half_subsample_ci(x, stat, seed=2) == pytest.approx(
        half_subsample_ci(x[::-1], stat, seed=2), rel=1e-12
    )


def test_fid_interval_covers_the_sampling_spread_without_bootstrap_inflation():
    """Sets of N=40 from one 4-d Gaussian population against a fixed real set: the
    half-sampling interval brackets FID and its width matches the spread of FID over
    independent sets; the with-replacement bootstrap sits above the point estimate
    (duplicated images inflate FID)."""
    rng = np.random.default_rng(3)
    real = rng.normal(size=(2000, 4))
    population = [rng.normal(0.3, 1.0, size=(40, 4)) for _ in range(200)]
    spread = np.std([frechet_distance(g, real) for g in population])
    gen = population[0]
    point = frechet_distance(gen, real)
    lo, hi = half_subsample_ci(gen, lambda rows: frechet_distance(rows, real), seed=0)
    assert lo < point < hi
    assert (hi - lo) / (2 * 1.96) == pytest.approx(spread, rel=0.5)
    boot_lo, boot_hi = two_sample_bootstrap_ci(real, gen, frechet_distance, seed=0, n_boot=100)
    assert (boot_lo + boot_hi) / 2 > (lo + hi) / 2


def test_kid_subsets_are_at_most_half_the_smaller_set():
    kid = KID(KID.Config(subset_size=1000))
    assert kid.subset_size(40, 40) == 20  # was 40: every subset the whole set, CI width 0
    assert kid.subset_size(40, 100) == 20
    assert kid.subset_size(5000, 4000) == 1000
    assert kid.subset_size(3, 3) == 2


def _board(runs: int, spread: float) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            dict(
                dataset="lus",
                generator=g,
                preset="quick",
                column="fid@abc",
                value=v,
                spread=spread,
                runs=runs,
                n=40,
                status="ok",
                message="",
            )
            for g, v in (("ddpm", 31.5), ("sinddm", 40.25))
        ]
    )


def test_single_run_set_statistic_prints_no_plus_minus_zero():
    cols = [Column("fid@abc", "fid", False)]
    md = to_markdown(_board(1, 0.0), cols)
    assert "± 0" not in md and "**31.5**" in md and "| 40.25 |" in md
    tex = to_latex(_board(1, 0.0), cols, "fid")
    assert r"\pm" not in tex.split(r"\midrule")[1] and r"$\mathbf{31.5}$" in tex
    several = to_markdown(_board(3, 2.5), cols)
    assert "**31.5 ± 2.5**" in several
