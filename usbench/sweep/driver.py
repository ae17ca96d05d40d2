"""``usbench sweep``: submit what is missing or failed, wait with a progress bar, ingest.

The sweep folder is ``<store>/sweeps/<name>/``: ``units/`` (one folder per unit, see
:class:`usbench.sweep.units.UnitFolder`) and ``logs/<job id>/`` (stdout/stderr of each
job). Units that are done, queued or running are never submitted again, so the same
command resumes a sweep that was stopped, cancelled or partly failed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from usbench.fileio import atomic_write_text
from usbench.store import ResultStore
from usbench.sweep.executors import ExecutorSettings, make_executor
from usbench.sweep.ingest import ingest
from usbench.sweep.jobs import run_unit
from usbench.sweep.spec import SweepSpec
from usbench.sweep.status import UnitStatus, sweep_status, unit_folder
from usbench.sweep.units import Unit


@dataclass(frozen=True)
class Sweep:
    """A spec bound to a store: where its units are tracked and its runs land.

    spec: the grid.
    store_root: the results store (its ``work`` folder must be visible to every job).
    """

    spec: SweepSpec
    store_root: Path

    @property
    def folder(self) -> Path:
        return Path(self.store_root) / "sweeps" / self.spec.name

    def units(self) -> list[Unit]:
        return self.spec.units()

    def status(self, executor_kind: str = "local") -> list[UnitStatus]:
        """Every unit's state (see :mod:`usbench.sweep.status`)."""
        return sweep_status(self.folder, self.units(), executor_kind)

    def ingest(self) -> list[str]:
        """Move finished runs into the store (one writer); returns the new run ids."""
        folders = [unit_folder(self.folder, u) for u in self.units()]
        waiting = [f for f in folders if f.result.is_file() and not f.ingested.is_file()]
        return ingest(ResultStore(self.store_root), waiting) if waiting else []


def submit(sweep: Sweep, settings: ExecutorSettings, units: list[Unit]) -> list[str]:
    """Submit ``units`` as one batch (a SLURM job array; local worker processes); the
    job ids are written to each unit's ``job.json``."""
    if not units:
        return []
    executor = make_executor(settings, sweep.folder / "logs")
    folders = [unit_folder(sweep.folder, u) for u in units]
    for unit, folder in zip(units, folders, strict=True):
        folder.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder.root / "unit.json", json.dumps(unit.to_dict(), indent=1))
        folder.failed.unlink(missing_ok=True)
    n = len(units)
    jobs = executor.map_array(
        run_unit,
        units,
        [str(f.root) for f in folders],
        [str(Path(sweep.store_root).resolve())] * n,
        [sweep.spec.name] * n,
        [settings.cpus] * n,
    )
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    for job, folder in zip(jobs, folders, strict=True):
        record = {
            "executor": settings.kind,
            "job_id": str(job.job_id),
            "stdout": str(job.paths.stdout),
            "stderr": str(job.paths.stderr),
            "submitted_at": now,
        }
        atomic_write_text(folder.job, json.dumps(record, indent=1))
    return [str(j.job_id) for j in jobs]


def run_sweep(
    sweep: Sweep,
    settings: ExecutorSettings,
    *,
    wait: bool = True,
    poll_s: float = 5.0,
    progress: bool = True,
    on_submit: Callable[[list[str]], None] | None = None,
) -> list[UnitStatus]:
    """Submit every missing or failed unit, then (``wait``) follow them to the end and
    ingest the finished runs. Local workers are fed as slots free up (``max_parallel``);
    SLURM gets one job array throttled to ``max_parallel``. Returns the final states."""
    sweep.spec.check()
    todo = [s.unit for s in sweep.status(settings.kind) if s.needs_submission]
    if settings.kind == "slurm":
        _notify(on_submit, submit(sweep, settings, todo))
        todo = []
    if not wait and todo:
        _notify(on_submit, submit(sweep, settings, todo[: settings.max_parallel]))
    if not wait:
        return sweep.status(settings.kind)

    def feed(statuses: list[UnitStatus]) -> None:
        nonlocal todo
        active = sum(1 for s in statuses if s.state in ("pending", "running"))
        free = settings.max_parallel - active
        if todo and free > 0:
            batch, todo = todo[:free], todo[free:]
            _notify(on_submit, submit(sweep, settings, batch))

    return follow(sweep, feed=feed, poll_s=poll_s, progress=progress, ingest=True)


def follow(
    sweep: Sweep,
    *,
    feed: Callable[[list[UnitStatus]], None] | None = None,
    poll_s: float = 5.0,
    progress: bool = True,
    ingest: bool = False,
) -> list[UnitStatus]:
    """Poll the units with a progress bar until none is pending or running (and ``feed``
    has nothing left to submit); ``ingest`` moves finished runs into the store as they
    come. Returns the final states."""
    bar = tqdm(
        total=len(sweep.units()), desc=f"sweep {sweep.spec.name}", unit="run", disable=not progress
    )
    while True:
        if feed is not None:
            feed(sweep.status())
        if ingest:
            sweep.ingest()
        statuses = sweep.status()
        active = sum(1 for s in statuses if s.state in ("pending", "running"))
        bar.n = sum(1 for s in statuses if s.state in ("done", "failed"))
        bar.set_postfix(running=active, failed=sum(s.state == "failed" for s in statuses))
        bar.refresh()
        if active == 0:
            break
        time.sleep(poll_s)
    bar.close()
    if ingest:  # what finished since the last pass
        sweep.ingest()
        statuses = sweep.status()
    return statuses


def _notify(callback: Callable[[list[str]], None] | None, job_ids: list[str]) -> None:
    if callback is not None and job_ids:
        callback(job_ids)
