"""The state of every unit of a sweep: missing, pending, running, done or failed.

Read from the unit folders (result, failure and ingestion markers, the job id of the
latest submission) and the scheduler's view of that job. A job that ended without a
result and without a recorded error was cancelled or killed (``scancel``, node failure,
SIGKILL): it counts as failed, and re-running the sweep resubmits it.

A unit split into fit jobs (:mod:`usbench.sweep.fits`) lists each fit's state under it;
the unit is pending or running while any of its jobs is, and failed when a fit failed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from usbench.sweep.executors import alive_jobs
from usbench.sweep.fits import FitJob, fit_folder, read_fits
from usbench.sweep.units import Unit, UnitFolder

STATES = ("missing", "pending", "running", "done", "failed")
ACTIVE = ("pending", "running")


@dataclass(frozen=True)
class FitStatus:
    """One fit job of a unit: the planned ``fit``, its ``state`` (one of :data:`STATES`),
    the ``job_id`` of its latest submission and why it failed (``message``)."""

    fit: FitJob
    state: str
    job_id: str = ""
    message: str = ""

    @property
    def needs_submission(self) -> bool:
        return self.state in ("missing", "failed")


@dataclass(frozen=True)
class UnitStatus:
    """One row of ``usbench sweep status``.

    unit: the grid point.
    state: one of :data:`STATES`, over the run job and the unit's fit jobs.
    job_id: scheduler id of the run job's latest submission (``""``: never submitted).
    run_id: the stored (or staged) run, once done.
    message: why it failed, and where its log is.
    run_state: the state of the run job alone.
    fits: the unit's fit jobs (empty when its tasks fit inside the run job).
    """

    unit: Unit
    state: str
    job_id: str = ""
    run_id: str = ""
    message: str = ""
    run_state: str = ""
    fits: tuple[FitStatus, ...] = ()

    @property
    def needs_submission(self) -> bool:
        """Missing and failed units are (re)submitted by the next ``usbench sweep``."""
        return self.state in ("missing", "failed")

    @property
    def alive(self) -> int:
        """How many of the unit's jobs (run and fits) are queued or running."""
        states = [self.run_state or self.state, *(f.state for f in self.fits)]
        return sum(state in ACTIVE for state in states)


def unit_folder(sweep_dir: Path, unit: Unit) -> UnitFolder:
    """The folder that tracks ``unit`` in the sweep at ``sweep_dir``."""
    return UnitFolder(Path(sweep_dir) / "units" / unit.unit_id)


def sweep_status(sweep_dir: Path, units: list[Unit], executor_kind: str) -> list[UnitStatus]:
    """The state of each unit (same order)."""
    folders = [unit_folder(sweep_dir, u) for u in units]
    fits = [
        [(fit, fit_folder(folder, fit)) for fit in read_fits(folder) or []] for folder in folders
    ]
    jobs = [f.read("job") or {} for f in folders]
    fit_jobs = [[ff.read("job") or {} for _, ff in unit_fits] for unit_fits in fits]
    by_kind: dict[str, list[str]] = {}
    for job in jobs + [j for unit_jobs in fit_jobs for j in unit_jobs]:
        if job.get("job_id"):
            by_kind.setdefault(job.get("executor", executor_kind), []).append(job["job_id"])
    alive: dict[str, str] = {}
    for kind, ids in by_kind.items():
        alive.update(alive_jobs(kind, ids))
    statuses = []
    for unit, folder, job, unit_fits, unit_fit_jobs in zip(
        units, folders, jobs, fits, fit_jobs, strict=True
    ):
        fit_states = tuple(
            FitStatus(fit, *_job_state(ff, j, alive))
            for (fit, ff), j in zip(unit_fits, unit_fit_jobs, strict=True)
        )
        statuses.append(_combined(_one(unit, folder, job, alive), fit_states))
    return statuses


def _one(unit: Unit, folder: UnitFolder, job: dict, alive: dict[str, str]) -> UnitStatus:
    for marker in ("ingested", "result"):
        record = folder.read(marker)
        if record is not None:
            run_id = record.get("run_id") or record["run"]["run_id"]
            return UnitStatus(unit, "done", str(job.get("job_id", "")), run_id)
    state, job_id, message = _job_state(folder, job, alive)
    return UnitStatus(unit, state, job_id, message=message)


def _job_state(folder: UnitFolder, job: dict, alive: dict[str, str]) -> tuple[str, str, str]:
    """``(state, job id, message)`` of the job tracked in ``folder``."""
    job_id = str(job.get("job_id", ""))
    if folder.read("result") is not None:
        return "done", job_id, ""
    if job_id in alive:
        return alive[job_id], job_id, ""
    log = job.get("stderr", "")
    failure = folder.read("failed")
    if failure is not None:
        return "failed", job_id, f"{failure['error']} (log: {log})"
    if job_id:
        why = "the job ended without a result (cancelled or killed)"
        return "failed", job_id, f"{why} (log: {log})"
    return "missing", "", ""


def _combined(run: UnitStatus, fits: tuple[FitStatus, ...]) -> UnitStatus:
    """The unit's state over its run job and its fit jobs."""
    status = replace(run, run_state=run.state, fits=fits)
    if run.state == "done" or not fits:
        return status
    states = {run.state, *(f.state for f in fits)}
    if states & set(ACTIVE):
        return replace(status, state="running" if "running" in states else "pending")
    failed = [f for f in fits if f.state == "failed"]
    if failed:
        first = failed[0]
        why = f"fit {first.fit.label} failed: {first.message}"
        return replace(status, state="failed", message=why)
    return status


def counts(statuses: list[UnitStatus]) -> dict[str, int]:
    """How many units are in each state."""
    return {s: sum(1 for u in statuses if u.state == s) for s in STATES}
