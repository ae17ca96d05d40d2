"""What the static site shows, as plain data: leaderboards, run pages, the comparison page.

The builders (:mod:`usbench.site.boards`, :mod:`usbench.site.runs`) fill these from a
results store (or from a written ``leaderboard.csv``); :mod:`usbench.site.render` turns
them into HTML. Paths in the model are relative to the site's root folder, with ``/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

ROW_KINDS = ("run", "external", "published")
"""``run``: trained here; ``external``: samples scored with ``usbench score`` (generator
``external:NAME``); ``published``: a seed paper's own number (never ranked)."""


@dataclass(frozen=True)
class BoardColumn:
    """One metric column of a leaderboard.

    key: the column's identity (metric name + variant hash, as in ``leaderboard.csv``).
    label: what the header says (the metric's selector).
    higher_is_better: the metric's direction (↑ or ↓ in the header).
    headline: part of the ``@default`` suite (shown by default; the others are picked).
    """

    key: str
    label: str
    higher_is_better: bool
    headline: bool = True

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass(frozen=True)
class Cell:
    """One leaderboard number: mean over runs, its ± (std over seeds or over samples),
    the 95 % CI of a single run when it has one, N (smallest over runs) and runs."""

    value: float = math.nan
    spread: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    runs: int = 0
    status: str = "ok"
    message: str = ""
    best: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok" and math.isfinite(self.value)

    @property
    def shows_spread(self) -> bool:
        """False for a single run's set statistic (FID, KID...): it has no spread to show,
        and "± 0" would claim one."""
        return math.isfinite(self.spread) and not (self.runs <= 1 and self.spread == 0)

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)


@dataclass
class BoardRow:
    """One leaderboard row: a (dataset, generator, preset) of ours, or a published one.

    kind: one of :data:`ROW_KINDS`.
    note: for published rows, the paper and table (``seed 003, Table 2``), else "".
    run_pages: hrefs of the run pages behind the row (empty for published rows).
    cells: column key → :class:`Cell` (a missing key is an empty cell).
    """

    dataset: str
    generator: str
    preset: str
    kind: str = "run"
    note: str = ""
    run_pages: list[str] = field(default_factory=list)
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class Board:
    """The leaderboard of one dataset: its columns (headline first) and rows."""

    dataset: str
    columns: list[BoardColumn]
    rows: list[BoardRow]
    spread_note: str = ""

    @property
    def published_only(self) -> bool:
        return all(row.kind == "published" for row in self.rows)


@dataclass(frozen=True)
class MetricLine:
    """One metric of a run page: selector, variant (JSON text), value, ± , CI, N, status."""

    name: str
    variant: str
    higher_is_better: bool
    value: float
    spread: float
    ci_low: float
    ci_high: float
    n: int
    status: str
    message: str


@dataclass(frozen=True)
class TaskTable:
    """A downstream task's numbers of one run: rows are groups (arm/setting, class),
    columns are the task's metrics; ``cells[row][column]`` is display text."""

    task: str
    columns: list[str]
    rows: list[str]
    cells: dict[str, dict[str, str]]


@dataclass
class RunPage:
    """Everything the page of one run shows.

    samples / real: image hrefs (generated samples; real training images of the same
    split, or none with ``real_note`` saying why). figures: (caption, href) pairs.
    facts: identity lines (label → text). provenance: the stored provenance record.
    command: the command line that reproduces the run.
    """

    run_id: str
    href: str
    generator: str
    preset: str
    dataset: str
    seed: int
    kind: str
    facts: dict[str, str]
    metrics: list[MetricLine]
    tasks: list[TaskTable]
    samples: list[str]
    real: list[str]
    real_note: str
    figures: list[tuple[str, str]]
    config: dict[str, Any]
    provenance: dict[str, Any]
    command: str


@dataclass(frozen=True)
class Agreement:
    """Kendall's τ between the run rankings of two metrics (each oriented so that τ = 1
    means both call the same run better), over ``n`` runs that both scored."""

    first: str
    second: str
    tau: float
    n: int


@dataclass
class Comparison:
    """One dataset's comparison: each run's samples side by side and, from three runs
    on, the metric-agreement table (pairs of headline metrics)."""

    dataset: str
    runs: list[RunPage]
    agreement: list[Agreement]
    metrics: list[str]
