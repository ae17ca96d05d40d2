"""The database rows of a run, kept in its run folder, and ``usbench store rebuild``.

Every run folder holds ``run.json``: its :class:`~usbench.store.RunRow` and all its
:class:`~usbench.store.ScoreRow` s (per-sample values included), exactly what went into
``results.sqlite``. :func:`rebuild_store` re-creates a damaged or lost database from those
files, so the database is an index that can always be rebuilt from the run folders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from usbench.store import ResultStore, RunRow, ScoreRow, _json_default

RECORD_NAME = "run.json"


def run_record(run: RunRow, scores: list[ScoreRow]) -> str:
    """``run.json`` text: the run's row and its score rows."""
    rows = []
    for score in scores:
        values = dataclasses.asdict(score)
        if score.per_sample is not None:
            values["per_sample"] = [float(v) for v in score.per_sample]
        rows.append(values)
    record = {"run": dataclasses.asdict(run), "scores": rows}
    return json.dumps(record, indent=1, default=_json_default)


def read_run_record(folder: Path) -> tuple[RunRow, list[ScoreRow]]:
    """The rows stored in ``folder/run.json`` (``run_dir`` set to where the folder is now)."""
    record = json.loads((folder / RECORD_NAME).read_text())
    run = RunRow(**{**record["run"], "run_dir": str(folder)})
    return run, [ScoreRow(**values) for values in record["scores"]]


@dataclass
class RebuildReport:
    """What :func:`rebuild_store` did."""

    restored: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """run folder name → why it could not be restored."""
    moved_aside: list[Path] = field(default_factory=list)


def rebuild_store(root: str | Path) -> RebuildReport:
    """Move ``root/results.sqlite`` (and its WAL files) aside, then re-create it from the
    ``run.json`` of every complete run folder under ``root/runs``."""
    root = Path(root)
    report = RebuildReport()
    stamp = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
    for suffix in ("", "-wal", "-shm"):
        old = root / f"results.sqlite{suffix}"
        if old.exists():
            aside = old.with_name(f"{old.name}.damaged-{stamp}")
            old.rename(aside)
            report.moved_aside.append(aside)
    store = ResultStore(root)
    for folder in store._run_folders():
        reason = _restore(store, folder)
        if reason is None:
            report.restored.append(folder.name)
        else:
            report.skipped[folder.name] = reason
    return report


def _restore(store: ResultStore, folder: Path) -> str | None:
    """Add the run of ``folder`` to ``store``; ``None`` on success, else the reason."""
    if not (folder / RECORD_NAME).exists():
        return f"no {RECORD_NAME} (written by an older usbench); run or score it again"
    try:
        run, scores = read_run_record(folder)
        store.add_run(run, scores)
    except (ValueError, TypeError, KeyError) as err:
        return f"{RECORD_NAME} unreadable: {err}"
    return None


def describe(report: RebuildReport) -> list[str]:
    """Lines telling the user what :func:`rebuild_store` did."""
    lines = [f"moved aside: {path}" for path in report.moved_aside]
    lines.append(f"restored {len(report.restored)} run(s) from their run folders")
    lines += [f"skipped {name}: {why}" for name, why in report.skipped.items()]
    return lines
