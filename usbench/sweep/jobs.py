"""The body of every sweep job, on a local worker or a SLURM node.

A job runs the harness exactly as ``usbench run --resume`` would, except that the store it
is handed never touches SQLite: checkpoints go to the shared store's ``work`` folder (so a
killed unit resumes), the run folder is assembled in the unit's ``staged/`` folder, and the
run's record (:class:`~usbench.store.RunRow` and every :class:`~usbench.store.ScoreRow`,
per-sample values included) is written atomically to ``result.json`` once that folder is
complete. The single writer of :mod:`usbench.sweep.ingest` moves it into the store later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from usbench.fileio import atomic_write_text
from usbench.store import RunRow, ScoreRow, _check_publishable, _json_default
from usbench.sweep.units import Unit, UnitFolder
from usbench.threads import limited_threads


class StagingStore:
    """What :func:`usbench.harness.execute` needs of a store, without SQLite.

    root: the shared store's folder (its ``locks`` keep two jobs off one run key).
    work_dir: the shared store's ``work`` folder (checkpoints, keyed by run key).
    runs_dir: where the finished run folder is renamed into place (the unit's ``staged``).
    """

    def __init__(self, store_root: Path, folder: UnitFolder, sweep_tag: dict[str, Any]) -> None:
        self.root = Path(store_root)
        self.work_dir = self.root / "work"
        self.runs_dir = folder.staged
        self.folder = folder
        self.sweep_tag = sweep_tag

    def runs(self) -> list[dict[str, Any]]:
        """No finished runs: a unit that has one is never submitted, and a job must not
        read the shared SQLite file (it may sit on a network file system)."""
        return []

    def add_run(self, run: RunRow, scores: Sequence[ScoreRow]) -> None:
        """Write the run's record; the run folder is complete by now."""
        for score in scores:
            _check_publishable(score)
        run.provenance = {**run.provenance, "sweep": self.sweep_tag}
        record = {"run": dataclasses.asdict(run), "scores": [_score_dict(s) for s in scores]}
        atomic_write_text(self.folder.result, json.dumps(record, indent=1, default=_json_default))


def run_unit(unit: Unit, unit_dir: str, store_root: str, sweep_name: str, threads: int) -> str:
    """Run one unit (the function every job calls); returns the run id.

    Progress bars go to the job's log (``<sweep>/logs/<job id>/``); a resumed fit's bar
    starts at its checkpoint's step. An exception is recorded in ``failed.json`` (message,
    traceback, job id) and raised again so the scheduler marks the job failed.
    """
    from usbench.harness import execute

    folder = UnitFolder(Path(unit_dir))
    with recording_failure(folder, threads) as job_id:
        tag = {"sweep": sweep_name, "unit": folder.root.name, "job_id": job_id}
        result = execute(unit.request(progress=True), StagingStore(Path(store_root), folder, tag))
    if result is None:  # a non-zero rank of a multi-process launch
        return ""
    return result.run_id


@contextmanager
def recording_failure(folder: UnitFolder, threads: int) -> Iterator[str]:
    """The frame of every job: at most ``threads`` threads in every thread pool (torch's,
    numpy's and scipy's BLAS, OpenMP; :func:`usbench.threads.limited_threads`), the job id
    yielded, and an exception recorded in ``folder``'s ``failed.json`` (message, traceback,
    job id) and raised again so the scheduler marks the job failed."""
    folder.failed.unlink(missing_ok=True)
    job_id = _job_id()
    try:
        with limited_threads(threads):
            yield job_id
    except BaseException as err:
        failure = {
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            "job_id": job_id,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        atomic_write_text(folder.failed, json.dumps(failure, indent=1))
        raise


def record_scores(record: dict[str, Any]) -> tuple[RunRow, list[ScoreRow]]:
    """The rows of a ``result.json`` record."""
    return RunRow(**record["run"]), [ScoreRow(**s) for s in record["scores"]]


def _score_dict(score: ScoreRow) -> dict[str, Any]:
    data = dataclasses.asdict(score)
    if score.per_sample is not None:
        data["per_sample"] = [float(v) for v in np.asarray(score.per_sample).ravel()]
    return data


def _job_id() -> str:
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array:
        return f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    return os.environ.get("SLURM_JOB_ID") or str(os.getpid())
