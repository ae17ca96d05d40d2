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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from usbench.fileio import atomic_write_text
from usbench.store import ResultStore
from usbench.sweep.executors import ExecutorSettings, make_executor
from usbench.sweep.fits import (
    FitJob,
    fit_folder,
    fits_file,
    has_planned_fits,
    plan_fits,
    run_fit,
)
from usbench.sweep.ingest import ingest
from usbench.sweep.jobs import run_unit
from usbench.sweep.spec import SweepSpec
from usbench.sweep.status import UnitStatus, sweep_status, unit_folder
from usbench.sweep.units import Unit, UnitFolder


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


def submit(
    sweep: Sweep, settings: ExecutorSettings, units: list[Unit], depends_on: Sequence[str] = ()
) -> list[str]:
    """Submit ``units``' run jobs as one batch (a SLURM job array; local worker
    processes), on SLURM after the jobs ``depends_on`` succeeded; the job ids are written
    to each unit's ``job.json``."""
    if not units:
        return []
    executor = make_executor(settings, sweep.folder / "logs", depends_on=depends_on)
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
    return _record_jobs(jobs, folders, settings.kind)


def submit_fits(
    sweep: Sweep, settings: ExecutorSettings, items: list[tuple[Unit, FitJob]]
) -> list[str]:
    """Submit fit jobs (``(unit, planned fit)`` pairs) as one batch; returns their ids,
    also written to each fit's ``job.json``."""
    if not items:
        return []
    executor = make_executor(settings, sweep.folder / "logs")
    folders = [fit_folder(unit_folder(sweep.folder, u), f) for u, f in items]
    for folder in folders:
        folder.root.mkdir(parents=True, exist_ok=True)
        folder.failed.unlink(missing_ok=True)
    n = len(items)
    jobs = executor.map_array(
        run_fit,
        [u for u, _ in items],
        [f for _, f in items],
        [str(f.root) for f in folders],
        [str(Path(sweep.store_root).resolve())] * n,
        [settings.cpus] * n,
    )
    return _record_jobs(jobs, folders, settings.kind)


def _record_jobs(jobs, folders: list[UnitFolder], kind: str) -> list[str]:
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    for job, folder in zip(jobs, folders, strict=True):
        record = {
            "executor": kind,
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
    ingest the finished runs. A unit with planned fits (its tasks' fits, the parts of its
    generator's fit; with the spec's ``split_fits``) runs each missing or failed fit as a
    job, and its run job after them.
    Local workers are fed as slots free up (``max_parallel``), a run job once its fits are
    done; SLURM gets one job array of fits and run jobs that wait for their unit's fits
    (``afterok``), each array throttled to ``max_parallel``. Returns the final states."""
    sweep.spec.check()
    todo = [s.unit for s in sweep.status(settings.kind) if s.needs_submission]
    _plan(sweep, todo, progress)
    queue = _Queue(sweep, settings, todo, sweep.status(settings.kind), on_submit)
    if settings.kind == "slurm":
        queue.submit_all()
    elif not wait:
        queue.feed(sweep.status(settings.kind))
    if not wait:
        return sweep.status(settings.kind)
    return follow(sweep, feed=queue.feed, poll_s=poll_s, progress=progress, ingest=True)


def _plan(sweep: Sweep, units: list[Unit], progress: bool) -> None:
    """Plan the fit jobs of ``units`` that have any (tasks, or a generator with fit parts),
    or, with ``split_fits`` off, forget any earlier plan so their run jobs fit everything."""
    planned = [u for u in units if _plans_fits(u)]
    for unit in tqdm(planned, desc="planning fits", disable=not (progress and planned)):
        folder = unit_folder(sweep.folder, unit)
        if sweep.spec.split_fits:
            try:
                plan_fits(unit, folder)
            except Exception:  # noqa: BLE001 - e.g. missing data: the run job reports it
                continue
        else:
            fits_file(folder).unlink(missing_ok=True)


def _plans_fits(unit: Unit) -> bool:
    try:
        return has_planned_fits(unit)
    except Exception:  # noqa: BLE001 - a bad selector: the run job reports it
        return False


class _Queue:
    """What is left to submit: fit jobs, and run jobs that wait for their unit's fits."""

    def __init__(self, sweep, settings, todo: list[Unit], statuses, on_submit) -> None:
        self.sweep, self.settings, self.on_submit = sweep, settings, on_submit
        self.runs = list(todo)
        wanted = {u.unit_id for u in todo}
        self.fits = [
            (s.unit, f.fit)
            for s in statuses
            if s.unit.unit_id in wanted
            for f in s.fits
            if f.needs_submission
        ]

    def submit_all(self) -> None:
        """SLURM: every fit now, each run job after its unit's new fit jobs."""
        ids = submit_fits(self.sweep, self.settings, self.fits)
        _notify(self.on_submit, ids)
        after: dict[str, list[str]] = {}
        for (unit, _), job_id in zip(self.fits, ids, strict=True):
            after.setdefault(unit.unit_id, []).append(job_id)
        free = [u for u in self.runs if u.unit_id not in after]
        _notify(self.on_submit, submit(self.sweep, self.settings, free))
        for unit in self.runs:
            if unit.unit_id in after:
                deps = after[unit.unit_id]
                _notify(self.on_submit, submit(self.sweep, self.settings, [unit], deps))
        self.runs, self.fits = [], []

    def feed(self, statuses: list[UnitStatus]) -> bool:
        """Local workers: fill the free slots, run jobs whose fits are done first, then
        fit jobs; units with a failed fit are dropped. Returns whether work is left."""
        by_id = {s.unit.unit_id: s for s in statuses}
        queued = {u.unit_id for u, _ in self.fits}
        ready, blocked = [], []
        for unit in self.runs:
            status = by_id[unit.unit_id]
            if all(f.state == "done" for f in status.fits):
                ready.append(unit)
            elif unit.unit_id not in queued and status.alive == 0:
                blocked.append(unit)  # a fit failed: reported, resubmitted next time
        free = self.settings.max_parallel - sum(s.alive for s in statuses)
        runs = ready[: max(0, free)]
        fits = self.fits[: max(0, free - len(runs))]
        self.runs = [u for u in self.runs if u not in runs and u not in blocked]
        self.fits = self.fits[len(fits) :]
        _notify(self.on_submit, submit_fits(self.sweep, self.settings, fits))
        _notify(self.on_submit, submit(self.sweep, self.settings, runs))
        return bool(self.runs or self.fits)


def follow(
    sweep: Sweep,
    *,
    feed: Callable[[list[UnitStatus]], bool] | None = None,
    poll_s: float = 5.0,
    progress: bool = True,
    ingest: bool = False,
) -> list[UnitStatus]:
    """Poll the units with a progress bar until none is pending or running and ``feed``
    (given the states, it submits what it can) has nothing left to submit; ``ingest``
    moves finished runs into the store as they come. Returns the final states."""
    bar = tqdm(
        total=len(sweep.units()), desc=f"sweep {sweep.spec.name}", unit="run", disable=not progress
    )
    while True:
        more = feed is not None and feed(sweep.status())
        if ingest:
            sweep.ingest()
        statuses = sweep.status()
        active = sum(1 for s in statuses if s.state in ("pending", "running"))
        bar.n = sum(1 for s in statuses if s.state in ("done", "failed"))
        bar.set_postfix(running=active, failed=sum(s.state == "failed" for s in statuses))
        bar.refresh()
        if active == 0 and not more:
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
