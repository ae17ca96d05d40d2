"""The state of every unit of a sweep: missing, pending, running, done or failed.

Read from the unit folders (result, failure and ingestion markers, the job id of the
latest submission) and the scheduler's view of that job. A job that ended without a
result and without a recorded error was cancelled or killed (``scancel``, node failure,
SIGKILL): it counts as failed, and re-running the sweep resubmits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from usbench.sweep.executors import alive_jobs
from usbench.sweep.units import Unit, UnitFolder

STATES = ("missing", "pending", "running", "done", "failed")


@dataclass(frozen=True)
class UnitStatus:
    """One row of ``usbench sweep status``.

    unit: the grid point.
    state: one of :data:`STATES`.
    job_id: scheduler id of the latest submission (``""``: never submitted).
    run_id: the stored (or staged) run, once done.
    message: why it failed, and where its log is.
    """

    unit: Unit
    state: str
    job_id: str = ""
    run_id: str = ""
    message: str = ""

    @property
    def needs_submission(self) -> bool:
        """Missing and failed units are (re)submitted by the next ``usbench sweep``."""
        return self.state in ("missing", "failed")


def unit_folder(sweep_dir: Path, unit: Unit) -> UnitFolder:
    """The folder that tracks ``unit`` in the sweep at ``sweep_dir``."""
    return UnitFolder(Path(sweep_dir) / "units" / unit.unit_id)


def sweep_status(sweep_dir: Path, units: list[Unit], executor_kind: str) -> list[UnitStatus]:
    """The state of each unit (same order)."""
    folders = [unit_folder(sweep_dir, u) for u in units]
    jobs = [f.read("job") or {} for f in folders]
    by_kind: dict[str, list[str]] = {}
    for job in jobs:
        if job.get("job_id"):
            by_kind.setdefault(job.get("executor", executor_kind), []).append(job["job_id"])
    alive: dict[str, str] = {}
    for kind, ids in by_kind.items():
        alive.update(alive_jobs(kind, ids))
    return [_one(u, f, j, alive) for u, f, j in zip(units, folders, jobs, strict=True)]


def _one(unit: Unit, folder: UnitFolder, job: dict, alive: dict[str, str]) -> UnitStatus:
    job_id = str(job.get("job_id", ""))
    for marker in ("ingested", "result"):
        record = folder.read(marker)
        if record is not None:
            run_id = record.get("run_id") or record["run"]["run_id"]
            return UnitStatus(unit, "done", job_id, run_id)
    if job_id in alive:
        return UnitStatus(unit, alive[job_id], job_id)
    log = job.get("stderr", "")
    failure = folder.read("failed")
    if failure is not None:
        return UnitStatus(unit, "failed", job_id, message=f"{failure['error']} (log: {log})")
    if job_id:
        why = "the job ended without a result (cancelled or killed)"
        return UnitStatus(unit, "failed", job_id, message=f"{why} (log: {log})")
    return UnitStatus(unit, "missing")


def counts(statuses: list[UnitStatus]) -> dict[str, int]:
    """How many units are in each state."""
    return {s: sum(1 for u in statuses if u.state == s) for s in STATES}
