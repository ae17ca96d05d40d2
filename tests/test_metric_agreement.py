"""Kendall τ between generator rankings of metric pairs (and vs classifier gain)."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from usbench import metric_agreement
from usbench.report import Column


def _board(values: dict[str, list[float]]) -> pd.DataFrame:
    gens = ["a", "b", "c", "d"]
    rows = []
    for column, vals in values.items():
        for g, v in zip(gens, vals, strict=True):
            row = dict(dataset="lus", generator=g, preset="quick", column=column, value=v)
            rows.append({**row, "spread": 0.0, "runs": 1, "n": 40, "status": "ok", "message": ""})
    return pd.DataFrame.from_records(rows)


def _tau(x, y):
    """Kendall τ (no ties) from its definition: (concordant - discordant) / pairs."""
    pairs = list(itertools.combinations(range(len(x)), 2))
    sign = [((x[i] - x[j]) * (y[i] - y[j]) > 0) - ((x[i] - x[j]) * (y[i] - y[j]) < 0)
            for i, j in pairs]  # fmt: skip
    return sum(sign) / len(pairs)


def test_tau_orients_lower_is_better_metrics_and_matches_its_definition():
    fid = [10.0, 20.0, 30.0, 40.0]  # lower better: a best
    prec = [0.9, 0.8, 0.7, 0.6]  # higher better: a best  -> full agreement
    vendi = [1.0, 3.0, 2.0, 4.0]
    cols = [Column("fid@1", "fid", False), Column("p@1", "precision", True),
            Column("v@1", "vendi", True)]  # fmt: skip
    table = metric_agreement.agreement(_board({"fid@1": fid, "p@1": prec, "v@1": vendi}), cols)
    got = {(r.a, r.b): r.tau for r in table.itertuples()}
    assert got[("fid", "precision")] == pytest.approx(1.0)
    assert got[("fid", "vendi")] == pytest.approx(_tau([-v for v in fid], vendi))
    assert got[("precision", "vendi")] == pytest.approx(_tau(prec, vendi))
    assert set(table["rows"]) == {4}
    assert "| lus | fid | precision | 1.00 |" in metric_agreement.to_markdown(table)


def test_classifier_gain_ranking_and_too_few_generators():
    cols = [Column("fid@1", "fid", False)]
    board = _board({"fid@1": [10.0, 20.0, 30.0, 40.0]})
    tasks = pd.DataFrame.from_records(
        [dict(dataset="lus", generator=g, preset="quick", task="classifier_gain",
              metric="balanced_accuracy", setting=s, **{"class": ""}, value=v)
         for s, vals in (("augmented/minority=10%", [0.8, 0.7, 0.75, 0.6]),
                         ("real/minority=10%", [0.5] * 4))
         for g, v in zip("abcd", vals, strict=True)]
    )  # fmt: skip
    table = metric_agreement.agreement(board, cols, tasks)
    assert list(table["b"]) == ["classifier gain (augmented/minority=10%)"]
    assert table["tau"].iloc[0] == pytest.approx(_tau([-10, -20, -30, -40], [0.8, 0.7, 0.75, 0.6]))
    small = board[board["generator"].isin(["a", "b"])]
    assert metric_agreement.agreement(small, cols, tasks).empty
