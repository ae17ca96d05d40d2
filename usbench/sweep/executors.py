"""Submitting units through submitit: local worker processes or SLURM job arrays.

Both executors are submitit's (``AutoExecutor(cluster="local" | "slurm")``) and run the
same job function, :func:`usbench.sweep.jobs.run_unit`; only where the processes run
differs. Each job's stdout/stderr land in ``<sweep>/logs/<job id>/``. Liveness of a job
is asked of the scheduler by job id (``squeue`` on SLURM, the process table locally), so
``usbench sweep status`` works from any shell, not only the one that submitted.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class ExecutorSettings:
    """Where and with what resources the jobs run.

    kind: ``local`` (worker processes on this machine) or ``slurm`` (sbatch job arrays).
    max_parallel: jobs running at once (local workers; SLURM array throttle ``%N``).
    cpus: CPUs per job (``--cpus-per-task``; also the thread count of every thread pool in
        the job: torch's, the BLAS libraries', OpenMP's).
    mem_gb: memory per job in GB (SLURM ``--mem``).
    time_min: wall-time limit per job in minutes (SLURM ``--time``).
    partition: SLURM partition (``None``: the cluster's default).
    gres: SLURM generic resources, e.g. ``gpu:1``.
    account: SLURM account to charge.
    sbatch: extra ``#SBATCH`` options as ``key -> value`` (``{"qos": "long"}``).
    """

    kind: str = "local"
    max_parallel: int = 2
    cpus: int = 1
    mem_gb: float = 4.0
    time_min: int = 240
    partition: str | None = None
    gres: str | None = None
    account: str | None = None
    sbatch: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ValueError(f"executor {self.kind!r}: choose one of {', '.join(EXECUTORS)}")
        if self.max_parallel < 1 or self.cpus < 1:
            raise ValueError("--max-parallel and --cpus must be at least 1")


def make_executor(settings: ExecutorSettings, log_root: Path, depends_on: Sequence[str] = ()):
    """A configured ``submitit.AutoExecutor`` writing logs under ``log_root/<job id>/``;
    on SLURM its jobs start once the jobs ``depends_on`` succeeded, and are cancelled
    when one of those fails (``--kill-on-invalid-dep``)."""
    import submitit

    if settings.kind == "slurm":
        _require_slurm()
    executor = submitit.AutoExecutor(folder=log_root / "%j", cluster=settings.kind)
    extra = dict(settings.sbatch)
    if settings.account:
        extra["account"] = settings.account
    if depends_on:
        extra["dependency"] = "afterok:" + ":".join(depends_on)
        extra["kill-on-invalid-dep"] = "yes"
    params = dict(
        name="usbench-sweep",
        timeout_min=settings.time_min,
        cpus_per_task=settings.cpus,
        slurm_array_parallelism=settings.max_parallel,
        slurm_mem=f"{max(1, int(settings.mem_gb * 1024))}M",
        slurm_additional_parameters=extra,
    )
    if settings.partition:
        params["slurm_partition"] = settings.partition
    if settings.gres:
        params["slurm_gres"] = settings.gres
    executor.update_parameters(**params)
    return executor


def alive_jobs(kind: str, job_ids: Sequence[str]) -> dict[str, str]:
    """``job id -> pending | running`` for the jobs the scheduler still runs or queues;
    jobs that ended (done, failed, cancelled, killed) are absent."""
    if not job_ids:
        return {}
    if kind == "local":
        return {j: "running" for j in job_ids if _process_alive(int(j))}
    return _squeue(job_ids)


def _squeue(job_ids: Sequence[str]) -> dict[str, str]:
    states = {}
    lines = []
    for base in sorted({j.split("_")[0] for j in job_ids}):  # one call each: squeue fails
        out = subprocess.run(  # for all ids when one of them has left its memory
            ["squeue", "-h", "-r", "-o", "%i|%T", "-j", base],
            capture_output=True,
            text=True,
            check=False,
        )
        lines += out.stdout.splitlines()
    for line in lines:
        job, _, state = line.strip().partition("|")
        if state in ("PENDING", "CONFIGURING", "REQUEUED", "SUSPENDED"):
            states[job] = "pending"
        elif state in ("RUNNING", "COMPLETING"):
            states[job] = "running"
    return {j: states[j] for j in job_ids if j in states}


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, finished but not yet reaped, counts as ended)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():
        return stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _require_slurm() -> None:
    try:
        subprocess.run(["sinfo", "-h"], capture_output=True, check=True, timeout=30)
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        raise RuntimeError(
            "no SLURM cluster answers `sinfo` here. On a cluster, run the sweep on a login "
            "node; on this machine, start a single-node one with scripts/slurm-local.sh "
            "(as root), or use --executor local."
        ) from err
