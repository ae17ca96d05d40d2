"""One writer moves finished units into the results store.

For each unit with a ``result.json`` and no ``ingested.json``: its staged run folder is
renamed into ``<store>/runs/``, the run and its scores go into SQLite in one transaction
(:meth:`usbench.store.ResultStore.add_run`), then ``ingested.json`` records the run id.
Every step can be repeated after a crash: a run already in the store (found by its sweep
unit id in the provenance) is never added twice, and a folder already moved is not moved
again. Only this process writes SQLite, so jobs on a network file system never do.
"""

from __future__ import annotations

import json

from usbench.fileio import atomic_write_text
from usbench.store import ResultStore
from usbench.sweep.jobs import record_scores
from usbench.sweep.units import UnitFolder


def stored_units(store: ResultStore) -> dict[str, str]:
    """``sweep unit id -> run id`` of every run in the store that a sweep produced."""
    found = {}
    for run in store.runs():
        unit = (run["provenance"].get("sweep") or {}).get("unit")
        if unit:
            found[unit] = run["run_id"]
    return found


def ingest(store: ResultStore, folders: list[UnitFolder]) -> list[str]:
    """Ingest every finished, not yet ingested unit of ``folders``; returns new run ids."""
    already = stored_units(store)
    added = []
    for folder in folders:
        record = folder.read("result")
        if record is None or folder.ingested.is_file():
            continue
        unit_id = folder.root.name
        if unit_id not in already:
            added.append(_ingest_one(store, folder, record))
            already[unit_id] = added[-1]
        _mark(folder, already[unit_id])
    return added


def _ingest_one(store: ResultStore, folder: UnitFolder, record: dict) -> str:
    run, scores = record_scores(record)
    final = store.runs_dir / run.run_id
    staged = folder.staged / run.run_id
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(final)
    run.run_dir = str(final)
    store.add_run(run, scores)
    return run.run_id


def _mark(folder: UnitFolder, run_id: str) -> None:
    atomic_write_text(folder.ingested, json.dumps({"run_id": run_id}))
