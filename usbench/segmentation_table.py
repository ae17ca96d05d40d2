"""``segmentation_gain`` results as a table: per run config, real share and arm, the mean
foreground Dice and HD95 and the Dice of every class, each mean ± std over the folds.

Written by ``usbench report`` as ``segmentation_gain.md`` / ``.csv`` when the reported runs
hold ``segmentation_gain`` rows (see :mod:`usbench.tasks.segmentation_gain`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from usbench.fileio import atomic_write_text

TASK = "segmentation_gain"


def segmentation_rows(long: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, generator, preset, real share, arm) from :func:`usbench.
    score_frames.long_scores`' frame: ``dice``, ``hd95`` (means over classes) and
    ``dice <class>`` per class as ``"mean ± std"`` text; empty without task rows."""
    if long.empty or "task" not in long:
        return pd.DataFrame()
    long = long.rename(columns={"class": "cls"})  # ``class`` cannot be a tuple field
    rows = long[(long["source"] == "task") & (long["task"] == TASK)]
    records: dict[tuple, dict] = {}
    for row in rows.itertuples():
        arm, _, share = row.setting.partition("/real=")
        key = (row.dataset, row.generator, row.preset, share, arm)
        column = row.metric if not row.cls else f"{row.metric} {row.cls}"
        if row.metric == "hd95" and row.cls:
            continue  # per-class HD95 stays in the store; the table shows per-class Dice
        records.setdefault(key, {})[column] = f"{row.value:.3f} ± {row.spread:.3f}"
    keys = ["dataset", "generator", "preset", "real share", "arm"]
    table = [dict(zip(keys, k, strict=True), **v) for k, v in sorted(records.items())]
    return pd.DataFrame.from_records(table)


def write_segmentation_table(long: pd.DataFrame, out: Path) -> list[Path]:
    """``segmentation_gain.md`` and ``.csv`` in ``out`` (nothing without task rows)."""
    table = segmentation_rows(long)
    if table.empty:
        return []
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.fillna("").values]
    caption = (
        "**segmentation_gain: mean foreground Dice ↑ and HD95 (px) ↓, and Dice per class; "
        "mean ± std over patient folds**"
    )
    text = "\n".join([caption, "", head, rule, *body]) + "\n"
    return [
        atomic_write_text(out / f"{TASK}.md", text),
        atomic_write_text(out / f"{TASK}.csv", table.to_csv(index=False)),
    ]
