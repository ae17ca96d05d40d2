"""Leaderboards of the site, one per dataset, from a results store or a ``leaderboard.csv``.

Numbers and "best" marks come from :mod:`usbench.report` (the same cells as the Markdown
and LaTeX leaderboards); this module adds what a browsable page needs: every stored column
(the ``@default`` suite marked as headline), each single run's 95 % CI, links to the run
pages, external runs labelled, and the seed papers' published numbers as rows of their
own kind that never compete for "best".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from usbench import catalog
from usbench import report as rp
from usbench.reference_rows import load_published
from usbench.site.model import Board, BoardColumn, BoardRow, Cell

HEADLINE_SUITE = "default"
_STATS = ("mean", "value")  # published stats that are a number ± spread, not a range


def boards_from_store(
    frame: pd.DataFrame, run_href: Callable[[str], str], with_published: bool = True
) -> list[Board]:
    """One board per dataset of ``frame`` (:func:`usbench.report.load_scores`).

    ``run_href(run_id)`` is the href of a run's page. With ``with_published``, the papers'
    numbers join the board of the dataset of the same name, and papers' datasets we have no
    runs on get boards of their own (only when ``frame`` holds every dataset).
    """
    board = rp.leaderboard(frame)
    names = dict(zip(frame["column"], frame["name"], strict=True))
    cols = _columns(rp.columns(frame), names)
    ci = _single_run_ci(frame)
    pages: dict[tuple, list[str]] = {}
    for keys, group in frame.groupby(["dataset", "generator", "preset"]):
        pages[keys] = [run_href(r) for r in sorted(set(group["run_id"]))]
    boards = _assemble(board, cols, ci, pages)
    if with_published:
        _add_published(boards, names, every_dataset=True)
    return boards


def boards_from_csv(path: Path, with_published: bool = False) -> list[Board]:
    """Boards from a ``leaderboard.csv`` that ``usbench report`` wrote (no store needed):
    the same numbers, no CIs and no run pages. Directions come from the metric plugins.
    ``with_published`` adds the papers' numbers as in :func:`boards_from_store`."""
    board = pd.read_csv(path, keep_default_na=False, na_values=[""])
    board["status"] = board["status"].fillna("ok")
    board["message"] = board["message"].fillna("")
    names = {
        key: catalog.canonical_alias("metrics", key.rsplit("@", 1)[0]) for key in board["column"]
    }
    labels = dict(names)
    if len(set(labels.values())) < len(labels):  # two variants of one name: keep the tag
        labels = {key: key for key in names}
    raw = [rp.Column(k, labels[k], _direction(names[k])) for k in sorted(names)]
    boards = _assemble(board, _columns(raw, names), {}, {})
    if with_published:
        _add_published(boards, names, every_dataset=True)
    return boards


def _direction(selector: str) -> bool:
    from usbench.plugins import resolve

    return bool(resolve("metrics", selector).build().higher_is_better)


def _columns(raw: list[rp.Column], names: dict[str, str]) -> list[BoardColumn]:
    headline = set(catalog.suite(HEADLINE_SUITE))
    out = [BoardColumn(c.key, c.label, c.higher_is_better, names[c.key] in headline) for c in raw]
    order = {name: i for i, name in enumerate(catalog.suite(HEADLINE_SUITE))}
    return sorted(out, key=lambda c: (not c.headline, order.get(names[c.key], 0), c.label))


def _single_run_ci(frame: pd.DataFrame) -> dict[tuple, tuple[float, float]]:
    ok = frame[frame["status"] == "ok"]
    out = {}
    for keys, group in ok.groupby(["dataset", "generator", "preset", "column"]):
        if len(group) == 1 and pd.notna(group["ci_low"].iloc[0]):
            out[keys] = (float(group["ci_low"].iloc[0]), float(group["ci_high"].iloc[0]))
    return out


def _assemble(
    board: pd.DataFrame,
    cols: list[BoardColumn],
    ci: dict[tuple, tuple[float, float]],
    pages: dict[tuple, list[str]],
) -> list[Board]:
    raw = [rp.Column(c.key, c.label, c.higher_is_better) for c in cols]
    best = rp.best_mask(board, raw)
    boards = []
    for dataset, part in board.groupby("dataset", sort=True):
        present = set(part["column"])
        rows = []
        for keys, group in part.groupby(["generator", "preset"], sort=True):
            key3 = (dataset, *keys)
            cells = {r.column: _cell(r, ci.get((*key3, r.column)), (*key3, r.column) in best)
                     for r in group.itertuples()}  # fmt: skip
            kind = "external" if str(keys[0]).startswith("external:") else "run"
            rows.append(BoardRow(dataset, *keys, kind=kind, run_pages=pages.get(key3, []),
                                 cells=cells))  # fmt: skip
        board_cols = [c for c in cols if c.key in present]
        boards.append(Board(str(dataset), board_cols, rows, rp.spread_note(part)))
    return boards


def _cell(row, ci: tuple[float, float] | None, best: bool) -> Cell:
    low, high = ci or (math.nan, math.nan)
    return Cell(
        value=float(row.value), spread=float(row.spread), ci_low=low, ci_high=high,
        n=int(row.n), runs=int(row.runs), status=str(row.status), message=str(row.message),
        best=best,
    )  # fmt: skip


def _add_published(boards: list[Board], names: dict[str, str], every_dataset: bool) -> None:
    """Append the papers' metric numbers (not their task tables) as ``published`` rows."""
    from usbench.registry import registry

    metric_names = set(registry("metrics").names())
    pub = load_published()
    pub = pub[pub["stat"].isin(_STATS) & (pub["class"] == "")].copy()
    pairs = zip(pub["metric"], pub["higher_is_better"], strict=True)
    pub["selector"] = [_published_selector(m, bool(h)) for m, h in pairs]
    pub = pub[[s.split(":", 1)[0] in metric_names for s in pub["selector"]]]
    by_dataset = {b.dataset: b for b in boards}
    for dataset, part in pub.groupby("dataset", sort=True):
        target = by_dataset.get(dataset)
        if target is None:
            if not every_dataset:
                continue
            target = Board(dataset, [], [], "± as the paper reports it")
            boards.append(target)
            by_dataset[dataset] = target
        _published_rows(target, part, names)


def _published_selector(metric: str, higher: bool) -> str:
    """Our selector for a paper's metric name. A paper's ``lpips`` is our diversity LPIPS
    when higher is better (seed 000) and our paired LPIPS when lower is (seed 002 compares
    each sample with a real image)."""
    selector = catalog.canonical_alias("metrics", metric)
    return "lpips:mode=paired" if selector == "lpips" and not higher else selector


def _published_rows(board: Board, part: pd.DataFrame, names: dict[str, str]) -> None:
    for (seed, table, method, setting), group in part.groupby(
        ["seed", "table", "method", "setting"], sort=True
    ):
        cells = {}
        for line in group.itertuples():
            column = _column_for(board, line.selector, bool(line.higher_is_better), names)
            cells[column] = Cell(value=float(line.value), spread=float(line.spread))
        note = f"seed {seed}, Table {table}: {group['citation'].iloc[0]}"
        board.rows.append(BoardRow(board.dataset, method, setting or "published",
                                   kind="published", note=note, cells=cells))  # fmt: skip


def _column_for(board: Board, selector: str, higher: bool, names: dict[str, str]) -> str:
    for column in board.columns:
        if names.get(column.key, column.key) == selector or column.key == selector:
            return column.key
    board.columns.append(
        BoardColumn(selector, selector, higher, selector in catalog.suite("default"))
    )
    names[selector] = selector
    return selector
