"""A unit's task fits as jobs of their own: planned on the submitting host, fit by jobs.

A unit with tasks whose :meth:`~usbench.protocols.Task.fit_plan` lists their generator
fits (``classifier_gain``: fold × minority share, or one per source image for
single-image generators; ``segmentation_gain``: fold × real share) is split into one job
per fit plus the run job. :func:`plan_fits` opens the unit's data once, asks each task for
its plan and writes it to ``<unit>/fits.json``; each fit job (:func:`run_fit`) trains one
fit into the very folder the run will look in (:func:`usbench.task_fits.fit_workdir` under
the store's ``work`` folder), and the run job, started after them, loads every finished
fit instead of training it. Tasks without a plan fit inside the run job, as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from usbench.fileio import atomic_write_text
from usbench.sweep.units import Unit, UnitFolder


@dataclass(frozen=True)
class FitJob:
    """One planned task fit of a unit.

    task: the task's name. tag: the fit's tag in the task's plan.
    indices: positions of its training images in the task's data.
    folder: its checkpoint folder relative to the store's ``work`` folder.
    """

    task: str
    tag: str
    indices: tuple[int, ...]
    folder: str

    @property
    def fit_id(self) -> str:
        """Name of the fit's folder under ``<unit>/fits/`` (unique in a unit)."""
        return self.folder.replace("/", ".")

    @property
    def label(self) -> str:
        return f"{self.task}/{self.tag}"


def fits_file(folder: UnitFolder) -> Path:
    """``<unit>/fits.json``: the unit's planned fits."""
    return folder.root / "fits.json"


def fit_folder(folder: UnitFolder, fit: FitJob) -> UnitFolder:
    """``<unit>/fits/<fit id>/``: its ``job``, ``result`` and ``failed`` markers."""
    return UnitFolder(folder.root / "fits" / fit.fit_id)


def read_fits(folder: UnitFolder) -> list[FitJob] | None:
    """The planned fits of a unit (``None``: not planned, the run job fits them)."""
    path = fits_file(folder)
    if not path.is_file():
        return None
    return [
        FitJob(f["task"], f["tag"], tuple(f["indices"]), f["folder"])
        for f in json.loads(path.read_text())
    ]


def plan_fits(unit: Unit, folder: UnitFolder) -> list[FitJob]:
    """Plan the unit's task fits (opening its data) and write them to ``fits.json``;
    a plan already written is read back."""
    known = read_fits(folder)
    if known is not None:
        return known
    from usbench.harness import resolve_tasks
    from usbench.task_fits import fit_workdir

    request, gen_spec, data, key = _opened(unit, progress=False)
    jobs: dict[str, FitJob] = {}
    for spec in resolve_tasks(request):
        plan = spec.build().fit_plan(data, gen_spec.plugin.capabilities, seed=request.seed)
        for fit in plan or []:
            where = fit_workdir(Path(key), spec.name, fit.tag, data.subset(fit.indices))
            job = FitJob(spec.name, fit.tag, tuple(fit.indices), where.as_posix())
            jobs.setdefault(job.folder, job)  # two tasks asking for the same fit: one job
    folder.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(fits_file(folder), json.dumps([asdict(j) for j in jobs.values()]))
    return list(jobs.values())


def run_fit(unit: Unit, fit: FitJob, fit_dir: str, store_root: str, threads: int) -> str:
    """The body of a fit job: train (or resume) one planned fit; returns its folder.

    The fit's ``result.json`` records it once finished; an exception is recorded in
    ``failed.json`` and raised again (as :func:`usbench.sweep.jobs.run_unit` does)."""
    from usbench.sweep.jobs import recording_failure

    folder = UnitFolder(Path(fit_dir))
    with recording_failure(folder, threads) as job_id:
        workdir = _fit(unit, fit, Path(store_root) / "work")
        record: dict[str, Any] = {**asdict(fit), "workdir": str(workdir), "job_id": job_id}
        atomic_write_text(folder.result, json.dumps(record, indent=1))
    return str(workdir)


def _opened(unit: Unit, *, progress: bool):
    """``(request, generator spec, data, run key)`` of ``unit``, as its run opens them."""
    from usbench.harness import open_run, resolve_generator

    request = unit.request(progress=progress)
    gen_spec = resolve_generator(request)
    data, *_, key = open_run(request, gen_spec)
    return request, gen_spec, data, key


def _fit(unit: Unit, fit: FitJob, work_dir: Path) -> Path:
    from usbench.task_fits import TaskFitter, fit_workdir

    request, gen_spec, data, key = _opened(unit, progress=True)
    train = data.subset(fit.indices)
    workdir = fit_workdir(work_dir / key, fit.task, fit.tag, train)
    if workdir != work_dir / fit.folder:
        raise RuntimeError(
            f"the data of {unit.label} changed since its fits were planned ({fit.folder} is "
            f"now {workdir.relative_to(work_dir)}); delete the unit's fits.json and re-run "
            "the sweep to plan them again"
        )
    TaskFitter(gen_spec, work_dir / key, fit.task, request.seed, progress=True)(train, fit.tag)
    return workdir
