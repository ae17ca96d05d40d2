"""The results store: an embedded SQLite database (WAL) of runs and their scores.

One run is written in one transaction (:meth:`ResultStore.add_run`), after its run folder
is complete, so a crash at any point leaves either no trace in the database or the whole
run. Every score row carries its metric's name, version and variant, the run's
generator/config hash, dataset/data hash, seed and N — the provenance a reader needs to
know which numbers are comparable.

A damaged database file (truncated, overwritten, or emptied while run folders exist) is
refused with :class:`StoreDamaged`, whose message offers ``usbench store rebuild``: every
run folder holds its own rows (``run.json``), from which :mod:`usbench.store_rebuild`
re-creates the database.

Scores computed with weights that are not the published ones (random weights used by
tests to compare pipelines) are refused: ``details["weights_published"] is False`` raises.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from usbench import catalog
from usbench.errors import UsbenchError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    generator TEXT NOT NULL,
    preset TEXT NOT NULL,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    dataset TEXT NOT NULL,
    data_hash TEXT NOT NULL,
    split_json TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n_samples INTEGER NOT NULL,
    run_dir TEXT NOT NULL,
    provenance_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    source TEXT NOT NULL,            -- 'metric' or 'task'
    name TEXT NOT NULL,              -- metric name, or task/metric for tasks
    version TEXT NOT NULL,
    variant_json TEXT NOT NULL,
    grp TEXT NOT NULL DEFAULT '',    -- task arm / class; '' for metrics
    status TEXT NOT NULL CHECK (status IN ('ok', 'unavailable', 'failed')),
    value REAL, spread REAL, n INTEGER, ci_low REAL, ci_high REAL,
    higher_is_better INTEGER NOT NULL,
    details_json TEXT NOT NULL DEFAULT '{}',
    per_sample_json TEXT,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS scores_run ON scores(run_id);
"""


class RandomWeightsRefused(ValueError):
    """A score computed with non-published (e.g. random) weights was offered to the store."""


class StoreDamaged(UsbenchError):
    """``results.sqlite`` cannot be read; the message says how to rebuild it."""


@dataclass
class ScoreRow:
    """One stored number. ``status`` is ``ok``, ``unavailable`` (with the fix in
    ``message``) or ``failed`` (with the error in ``message``)."""

    source: str
    name: str
    version: str
    variant: dict[str, Any]
    status: str
    higher_is_better: bool
    value: float | None = None
    spread: float | None = None
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    group: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    per_sample: Sequence[float] | None = None
    message: str = ""


@dataclass
class RunRow:
    """The identity and provenance of one run."""

    run_id: str
    created_at: str
    generator: str
    preset: str
    config: dict[str, Any]
    config_hash: str
    dataset: str
    data_hash: str
    split: dict[str, Any]
    seed: int
    n_samples: int
    run_dir: str
    provenance: dict[str, Any]


class ResultStore:
    """``root/results.sqlite`` plus run folders under ``root/runs``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "results.sqlite"
        if self.path.exists() and self.path.stat().st_size == 0 and self._run_folders():
            raise self._damaged("the file is empty although run folders exist")
        try:
            with self._connect() as con:
                problem = con.execute("PRAGMA quick_check").fetchone()[0]
                if problem != "ok":
                    raise sqlite3.DatabaseError(problem)
                con.executescript(_SCHEMA)
                con.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as err:
            raise self._damaged(str(err)) from err

    def _run_folders(self) -> list[Path]:
        """Complete run folders (a half-written one is hidden as ``.partial-*``)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p for p in self.runs_dir.iterdir() if p.is_dir() and p.name[0] != ".")

    def _damaged(self, detail: str) -> StoreDamaged:
        return StoreDamaged(
            f"The results database {self.path} is damaged ({detail}). Nothing is lost while "
            f"the run folders exist: `usbench store rebuild --store {self.root}` moves the "
            f"damaged file aside and re-creates the database from the "
            f"{len(self._run_folders())} run folder(s) under {self.runs_dir}."
        )

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def work_dir(self) -> Path:
        """Checkpoints of unfinished fits, kept so that ``--resume`` can continue them."""
        return self.root / "work"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            with con:  # one transaction: commit on success, roll back on error
                yield con
        finally:
            con.close()

    def add_run(self, run: RunRow, scores: Sequence[ScoreRow]) -> None:
        """Insert a run and all its scores atomically."""
        for score in scores:
            _check_publishable(score)
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.run_id,
                    run.created_at,
                    run.generator,
                    run.preset,
                    json.dumps(run.config, sort_keys=True),
                    run.config_hash,
                    run.dataset,
                    run.data_hash,
                    json.dumps(run.split, sort_keys=True),
                    run.seed,
                    run.n_samples,
                    run.run_dir,
                    json.dumps(run.provenance, sort_keys=True),
                ),
            )
            con.executemany(
                "INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [_score_tuple(run.run_id, s) for s in scores],
            )

    def runs(self) -> list[dict[str, Any]]:
        """Every run as a dict (JSON columns decoded)."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY created_at")]
        for row in rows:
            for key in ("config_json", "split_json", "provenance_json"):
                row[key[: -len("_json")]] = json.loads(row.pop(key))
        return rows

    def scores(self) -> list[dict[str, Any]]:
        """Every score row joined with its run's identity (JSON columns decoded).

        Metric rows stored under an old alias (``fid-pool2``) come back under the canonical
        selector it stands for (``fid:layer=pool2``), so old and new runs share a column;
        so do rows scored before a metric's default changed (``catalog.FORMER_DEFAULTS``).
        """
        query = (
            "SELECT s.*, r.generator, r.preset, r.dataset, r.seed, r.config_hash, "
            "r.data_hash, r.created_at, r.run_dir FROM scores s JOIN runs r USING (run_id)"
        )
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = [dict(r) for r in con.execute(query)]
        for row in rows:
            row["variant"] = json.loads(row.pop("variant_json"))
            row["details"] = json.loads(row.pop("details_json"))
            per_sample = row.pop("per_sample_json")
            row["per_sample"] = json.loads(per_sample) if per_sample else None
            if row["source"] == "metric":
                row["name"] = catalog.stored_metric_name(row["name"], row["variant"])
        return rows

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its scores (the run folder is left to the caller)."""
        with self._connect() as con:
            con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


def _check_publishable(score: ScoreRow) -> None:
    if score.details.get("weights_published") is False:
        raise RandomWeightsRefused(
            f"{score.name} was computed with weights that are not the published ones; "
            "such numbers are for pipeline tests only and are never stored as scores."
        )


def _score_tuple(run_id: str, s: ScoreRow) -> tuple:
    per_sample = None
    if s.per_sample is not None:
        per_sample = json.dumps([float(v) for v in np.asarray(s.per_sample).ravel()])
    return (
        run_id,
        s.source,
        s.name,
        s.version,
        json.dumps(s.variant, sort_keys=True),
        s.group,
        s.status,
        _finite_or_none(s.value),
        _finite_or_none(s.spread),
        s.n,
        _finite_or_none(s.ci_low),
        _finite_or_none(s.ci_high),
        int(s.higher_is_better),
        json.dumps(s.details, sort_keys=True, default=_json_default),
        per_sample,
        s.message,
    )


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")
