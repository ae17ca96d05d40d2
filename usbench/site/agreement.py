"""Do the metrics agree? Kendall's τ between the run rankings of each pair of metrics on
one dataset (scipy's ``kendalltau``, τ-b), every metric oriented so that larger = better:
τ = 1 when two metrics order the runs the same way, −1 when they reverse it."""

from __future__ import annotations

import math
from itertools import combinations

import pandas as pd
from scipy.stats import kendalltau

from usbench.site.model import Agreement

MIN_RUNS = 3


def metric_agreement(frame: pd.DataFrame, metrics: list[str]) -> list[Agreement]:
    """Pairs of ``metrics`` (metric names) scored ``ok`` on at least :data:`MIN_RUNS` common
    runs of ``frame`` (rows of :func:`usbench.report.load_scores` for one dataset)."""
    ok = frame[(frame["status"] == "ok") & frame["name"].isin(metrics)]
    if ok["run_id"].nunique() < MIN_RUNS:
        return []
    signed = ok["value"].where(ok["higher_is_better"].astype(bool), -ok["value"])
    table = ok.assign(signed=signed).pivot_table(
        index="run_id", columns="name", values="signed", aggfunc="mean"
    )
    out = []
    for first, second in combinations([m for m in metrics if m in table.columns], 2):
        pair = table[[first, second]].dropna()
        if len(pair) < MIN_RUNS:
            continue
        tau = kendalltau(pair[first], pair[second]).statistic
        out.append(Agreement(first, second, float(tau), len(pair)))
    return [a for a in out if not math.isnan(a.tau)] + [a for a in out if math.isnan(a.tau)]
