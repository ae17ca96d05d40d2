"""Do the metrics agree? Kendall τ between generator rankings, per dataset.

With at least three leaderboard rows (generator × preset) on a dataset, every pair of
metric columns gets Kendall's τ-b (``scipy.stats.kendalltau``) between the rows' values,
each oriented so that a larger number is better (a lower-is-better metric is negated):
τ = 1 means the two metrics rank the generators identically, -1 reversed. When the
``classifier_gain`` task ran, each metric is also compared with the balanced accuracy of
the synthetic-augmented classifier at each minority share (the real-only arm does not
depend on the generator, so ranking by that accuracy is ranking by the gain) — the
question of whether a distribution metric predicts downstream utility.
"""

from __future__ import annotations

import itertools
import math

import pandas as pd
from scipy.stats import kendalltau

MIN_ROWS = 3
_TASK_METRIC = "balanced_accuracy"


def _oriented(board: pd.DataFrame, columns: list, dataset: str) -> dict[str, pd.Series]:
    """Column label → values indexed by (generator, preset), larger = better."""
    ok = board[(board["dataset"] == dataset) & (board["status"] == "ok")]
    out = {}
    for col in columns:
        rows = ok[ok["column"] == col.key].set_index(["generator", "preset"])["value"]
        out[col.label] = rows if col.higher_is_better else -rows
    return out


def _task_rankings(tasks: pd.DataFrame | None, dataset: str) -> dict[str, pd.Series]:
    """``classifier gain (<setting>)`` → augmented balanced accuracy per (generator, preset)."""
    if tasks is None or tasks.empty:
        return {}
    sel = tasks[
        (tasks["dataset"] == dataset)
        & (tasks["task"] == "classifier_gain")
        & (tasks["metric"] == _TASK_METRIC)
        & (tasks["class"] == "")
        & ~tasks["setting"].str.startswith("real/")
    ]
    out = {}
    for setting, group in sel.groupby("setting"):
        out[f"classifier gain ({setting})"] = group.set_index(["generator", "preset"])["value"]
    return out


def agreement(
    board: pd.DataFrame, columns: list, tasks: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One line per (dataset, ranking A, ranking B): ``tau``, ``p_value``, ``rows`` (the
    generators both rank). Datasets with fewer than three leaderboard rows are skipped;
    ``board``/``columns`` are :func:`usbench.report.leaderboard` / ``columns`` output,
    ``tasks`` the task lines of :func:`usbench.score_frames.long_scores` (or ``None``)."""
    records = []
    for dataset in sorted(board["dataset"].unique()):
        metrics = _oriented(board, columns, dataset)
        targets = _task_rankings(tasks, dataset)
        pairs = list(itertools.combinations(metrics, 2))
        pairs += [(m, t) for m in metrics for t in targets]
        rankings = {**metrics, **targets}
        for a, b in pairs:
            both = pd.concat([rankings[a], rankings[b]], axis=1, join="inner").dropna()
            if len(both) < MIN_ROWS:
                continue
            tau, p_value = kendalltau(both.iloc[:, 0], both.iloc[:, 1])
            records.append(
                {
                    "dataset": dataset,
                    "a": a,
                    "b": b,
                    "tau": tau,
                    "p_value": p_value,
                    "rows": len(both),
                }  # fmt: skip
            )
    return pd.DataFrame.from_records(
        records, columns=["dataset", "a", "b", "tau", "p_value", "rows"]
    )


def to_markdown(table: pd.DataFrame) -> str:
    """The agreement lines as a Markdown table (τ with 2 decimals, ``n/a`` if undefined)."""
    lines = [
        "| dataset | ranking A | ranking B | Kendall τ | p | generators |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        tau = "n/a" if math.isnan(r.tau) else f"{r.tau:.2f}"
        p = "n/a" if math.isnan(r.p_value) else f"{r.p_value:.2g}"
        lines.append(f"| {r.dataset} | {r.a} | {r.b} | {tau} | {p} | {r.rows} |")
    note = (
        "\nτ between the generator rankings of two metrics (each oriented so larger is "
        f"better); only datasets with at least {MIN_ROWS} generators.\n"
    )
    return "\n".join(lines) + "\n" + note
