"""A unit's known fits as jobs of their own: planned on the submitting host, fit by jobs.

Two kinds of fit are planned. A unit with tasks whose :meth:`~usbench.protocols.Task.
fit_plan` lists their generator fits (``classifier_gain``: fold × minority share, or one
per source image for single-image generators; ``segmentation_gain``: fold × real share)
gets one job per task fit; a unit whose generator lists the parts of its own fit
(:meth:`~usbench.protocols.Generator.fit_parts`: one model per source image for SinDDM,
FewDDM and SinGAN) gets one job per part. :func:`plan_fits` opens the unit's data once and
writes the plan to ``<unit>/fits.json``; each fit job (:func:`run_fit`) trains one fit
into the very folder the run will look in (under the store's ``work`` folder: a task fit
in :func:`usbench.task_fits.fit_workdir`, a part in ``<run key>/<part>``), and the run job,
started after them, loads every finished fit instead of training it. Fits nobody planned
happen inside the run job, as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from usbench.fileio import atomic_write_text
from usbench.sweep.units import Unit, UnitFolder

GENERATOR_PART = "generator"  # FitJob.task of a part of the run's own generator fit


@dataclass(frozen=True)
class FitJob:
    """One planned task fit of a unit.

    task: the task's name, or :data:`GENERATOR_PART` for a part of the run's own fit.
    tag: the fit's tag in the task's plan, or the part's name.
    indices: positions of its training images in the task's data (a part: ``()``, it
        trains on the run's training split).
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
    """Plan the unit's fits (opening its data) and write them to ``fits.json``: the parts
    of the run's own fit first, then its tasks' fits; a plan already written is read back."""
    known = read_fits(folder)
    if known is not None:
        return known
    from usbench.harness import resolve_tasks
    from usbench.task_fits import fit_workdir

    request, gen_spec, data, train, key = _opened(unit, progress=False)
    jobs: dict[str, FitJob] = {}
    for part in gen_spec.build().fit_parts(train) or []:
        job = FitJob(GENERATOR_PART, part, (), f"{key}/{part}")
        jobs[job.folder] = job
    for spec in resolve_tasks(request):
        plan = spec.build().fit_plan(data, gen_spec.plugin.capabilities, seed=request.seed)
        for fit in plan or []:
            where = fit_workdir(Path(key), spec.name, fit.tag, data.subset(fit.indices))
            job = FitJob(spec.name, fit.tag, tuple(fit.indices), where.as_posix())
            jobs.setdefault(job.folder, job)  # two tasks asking for the same fit: one job
    folder.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(fits_file(folder), json.dumps([asdict(j) for j in jobs.values()]))
    return list(jobs.values())


def has_planned_fits(unit: Unit) -> bool:
    """Whether planning ``unit`` can find fits (it has tasks, or its generator lists
    parts), without opening its data."""
    if unit.tasks:
        return True
    from usbench.harness import resolve_generator
    from usbench.protocols import Generator

    plugin = resolve_generator(unit.request()).plugin
    return plugin.fit_parts is not Generator.fit_parts


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
    """``(request, generator spec, data, training split, run key)`` of ``unit``, as its
    run opens them."""
    from usbench.harness import open_run, resolve_generator

    request = unit.request(progress=progress)
    gen_spec = resolve_generator(request)
    data, train, _test, _split, key = open_run(request, gen_spec)
    return request, gen_spec, data, train, key


def _fit(unit: Unit, fit: FitJob, work_dir: Path) -> Path:
    from usbench.task_fits import TaskFitter, fit_workdir

    request, gen_spec, data, train, key = _opened(unit, progress=True)
    if fit.task == GENERATOR_PART:
        workdir = work_dir / key / fit.tag
        _check_planned(unit, fit, workdir, work_dir)
        fit_part(gen_spec, train, work_dir / key, fit.tag, seed=request.seed)
        return workdir
    train = data.subset(fit.indices)
    workdir = fit_workdir(work_dir / key, fit.task, fit.tag, train)
    _check_planned(unit, fit, workdir, work_dir)
    TaskFitter(gen_spec, work_dir / key, fit.task, request.seed, progress=True)(train, fit.tag)
    return workdir


def fit_part(gen_spec, train, run_workdir: Path, part: str, *, seed: int) -> None:
    """Train ``part`` of the run's fit into ``run_workdir`` (resumed from its checkpoint),
    holding a file lock on the part so two jobs never write one checkpoint."""
    from filelock import FileLock

    from usbench.protocols import FitContext

    run_workdir.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{run_workdir / part}.lock"):
        ctx = FitContext(workdir=run_workdir, seed=seed, resume=True, progress=True)
        gen_spec.build().fit_part(train, ctx, part)


def _check_planned(unit: Unit, fit: FitJob, workdir: Path, work_dir: Path) -> None:
    if workdir != work_dir / fit.folder:
        raise RuntimeError(
            f"the data of {unit.label} changed since its fits were planned ({fit.folder} is "
            f"now {workdir.relative_to(work_dir)}); delete the unit's fits.json and re-run "
            "the sweep to plan them again"
        )
