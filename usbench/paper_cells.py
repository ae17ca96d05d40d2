"""The model of a paper-ready table: :class:`Cell`, :class:`PaperTable`, and the helpers
that fill cells from the long-form scores (:func:`usbench.score_frames.long_scores`) and
from the published reference rows (:mod:`usbench.reference_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Cell:
    """A number with an optional ± spread; ``best`` marks it bold."""

    value: float
    spread: float | None = None
    best: bool = False

    def text(self, digits: int, latex: bool) -> str:
        if self.value is None or not math.isfinite(self.value):
            return "--"
        body = f"{self.value:.{digits}f}"
        if self.spread is not None and math.isfinite(self.spread):
            body += (r" \pm " if latex else " ± ") + f"{self.spread:.{digits}f}"
        if latex:
            return rf"$\mathbf{{{body}}}$" if self.best else f"${body}$"
        return f"**{body}**" if self.best else body


@dataclass
class PaperTable:
    """One table: ``keys`` label columns, then value ``columns`` (label, higher-is-better
    or ``None`` for no direction); ``rows`` of ours, ``published`` rows below a rule."""

    caption: str
    keys: list[str]
    columns: list[tuple[str, bool | None]]
    rows: list[tuple[list[str], list[Cell | None]]] = field(default_factory=list)
    published: list[tuple[list[str], list[Cell | None]]] = field(default_factory=list)
    digits: int = 3

    def mark_best(self) -> None:
        """Bold the best of *our* rows per column (by its direction); published rows never."""
        for j, (_label, higher) in enumerate(self.columns):
            cells = [r[1][j] for r in self.rows if r[1][j] is not None]
            finite = [c.value for c in cells if c.value is not None and math.isfinite(c.value)]
            if higher is None or len(finite) < 2:
                continue
            target = max(finite) if higher else min(finite)
            for _keys, values in self.rows:
                if values[j] is not None and values[j].value == target:
                    values[j] = Cell(values[j].value, values[j].spread, best=True)


def pick_metric(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that ``frame`` holds scores of, or ``None``."""
    present = set(frame["metric"]) if not frame.empty else set()
    return next((n for n in names if n in present), None)


def score_cell(frame: pd.DataFrame, spread: bool = True, **where: str) -> Cell | None:
    """The cell of the first row of ``frame`` matching ``where`` (``None`` if none)."""
    sel = frame
    for k, v in where.items():
        sel = sel[sel[k] == v]
    if sel.empty:
        return None
    row = sel.iloc[0]
    return Cell(float(row["value"]), float(row["spread"]) if spread else None)


def published_cell(pub: pd.DataFrame, **where: str) -> Cell | None:
    """The cell of the first published row matching ``where`` (``None`` if none)."""
    sel = pub
    for k, v in where.items():
        sel = sel[sel[k] == v]
    if sel.empty:
        return None
    spread = sel["spread"].iloc[0]
    return Cell(float(sel["value"].iloc[0]), None if math.isnan(spread) else float(spread))


def table_caption(title: str, frame: pd.DataFrame, note: str = "") -> str:
    """``title`` with our presets, the smallest N, the runs and what ± means."""
    n = int(frame["n"].min()) if not frame.empty else 0
    runs = int(frame["runs"].max()) if not frame.empty else 0
    presets = ", ".join(sorted(set(frame["preset"]))) if not frame.empty else "-"
    spread = "std over seeds" if runs > 1 else "std over samples or folds of one run"
    text = f"{title} (ours: preset {presets}; N ≥ {n}; up to {runs} run(s); ± is the {spread})"
    return text + (f". {note}" if note else "")
