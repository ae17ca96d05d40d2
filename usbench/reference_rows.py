"""The seed papers' published numbers, as labelled reference rows.

They are package data, ``usbench/data/published.csv`` (one number per line, with the paper's
citation, table, dataset, method, setting and a note), are shown beside ours only when a
report asks for them (``usbench report --with-published``) and never take part in
rankings or "best" marks: their data sets, splits and weights differ from ours.

Columns: ``seed, table, dataset, method, setting, class, metric, stat, value, spread,
higher_is_better, note, citation``. ``metric`` uses our metric names (``sifid``,
``fid-pool1``, ``balanced_accuracy``...); ``setting`` is training steps (seed 000) or a
task group such as ``real+synthetic/minority=25%`` (seeds 003/004); ``stat`` is ``mean``
(± ``spread``), ``value`` (one number), or ``std``/``range`` (seed 002 Table 2).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from usbench import paths

ENV_PATH = paths.PUBLISHED_CSV_ENV
COLUMNS = (
    "seed", "table", "dataset", "method", "setting", "class", "metric", "stat", "value",
    "spread", "higher_is_better", "note", "citation",
)  # fmt: skip


PACKAGE, RESOURCE = "usbench.data", "published.csv"


def published_csv() -> Path | None:
    """``$USBENCH_PUBLISHED_CSV`` when set, else ``None`` (the packaged table)."""
    return paths.published_csv_override()


def load_published(path: Path | None = None) -> pd.DataFrame:
    """All reference rows as a DataFrame with :data:`COLUMNS` (strings kept as strings,
    ``value``/``spread`` as floats, NaN where the paper gives no spread)."""
    path = path or published_csv()
    if path is None:
        with resources.files(PACKAGE).joinpath(RESOURCE).open(encoding="utf-8") as handle:
            frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
        where = f"{PACKAGE}/{RESOURCE}"
    elif path.is_file():
        frame, where = pd.read_csv(path, dtype=str, keep_default_na=False), str(path)
    else:
        raise FileNotFoundError(
            f"Published reference rows not found at {path}; unset ${ENV_PATH} to use the "
            "table shipped with usbench, or drop --with-published."
        )
    missing = sorted(set(COLUMNS) - set(frame.columns))
    if missing:
        raise ValueError(f"{where} lacks column(s) {', '.join(missing)}")
    frame["value"] = pd.to_numeric(frame["value"])
    frame["spread"] = pd.to_numeric(frame["spread"], errors="coerce")  # "" → NaN
    frame["higher_is_better"] = frame["higher_is_better"].astype(int).astype(bool)
    return frame


def published_rows(seed: str, table: str, path: Path | None = None) -> pd.DataFrame:
    """The reference rows of one seed paper's table (``seed="003", table="3"``)."""
    frame = load_published(path)
    return frame[(frame["seed"] == seed) & (frame["table"] == table)].reset_index(drop=True)
