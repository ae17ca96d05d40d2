"""What makes repeating ``usbench run`` safe: a lock per run key, finished jobs reused,
and a refusal (with the fix) to silently restart over an existing checkpoint.

* Two identical commands at the same time: the second waits for the first's job lock
  (``locks/job-<job key>.lock``, a :mod:`filelock` lock, released by the OS if the holder
  dies) and then reuses its stored run instead of training and storing it again.
* Two jobs of one run key (the same fit, other metrics or tasks) at the same time: only the
  training holds the key's lock (``locks/<run key>.lock``); the second waits for the first
  to finish training, loads the finished fit and samples, scores and runs its tasks beside
  it (task fits have locks of their own, :mod:`usbench.task_fits`). The lock files live in
  the store's ``locks`` folder, apart from the checkpoints.
* A *job* is a run key plus what is sampled and scored (:func:`job_key`); a job already in
  the store is returned as it is, never run or stored twice (also with ``--resume``).
* A checkpoint of the run key exists but ``--resume`` was not given: :class:`CheckpointExists`
  says so and names ``--resume`` (continue; a finished training is reused as it is) and
  ``--restart`` (delete the checkpoints and start at step 0).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from safetensors.torch import load_file

from usbench.checkpoints import CheckpointDir
from usbench.errors import UsbenchError
from usbench.samples import SampleBatch
from usbench.store import ResultStore, ScoreRow
from usbench.store_rebuild import read_run_record


class CheckpointExists(UsbenchError):
    """A run would start over although a checkpoint of it exists; the message says how to
    resume or restart."""


def job_key(run_key: str, identity: dict[str, Any]) -> str:
    """Hash of the run key and what is sampled and scored (sample count, metrics, tasks)."""
    payload = json.dumps({"run": run_key, **identity}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@contextmanager
def job_lock(folder: Path, job: str) -> Iterator[None]:
    """Hold ``folder/job-<job>.lock`` for a whole run (waiting, with a note, while another
    process runs the identical job, whose stored result is then reused)."""
    note = (
        f"usbench: an identical run (job {job}) is in progress in another process; "
        "waiting for it to finish, then its result is reused."
    )
    with _held(folder / f"job-{job}.lock", note):
        yield


@contextmanager
def training_lock(folder: Path, key: str) -> Iterator[None]:
    """Hold ``folder/<key>.lock`` while the run key's generator trains (waiting, with a
    note, while another process trains it; its finished fit is then loaded)."""
    note = (
        f"usbench: another run is training this generator (key {key}); waiting for its "
        "training to finish, then the finished fit is loaded."
    )
    with _held(folder / f"{key}.lock", note):
        yield


@contextmanager
def _held(path: Path, note: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(note, file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def finished_run(store: ResultStore, job: str) -> tuple[dict, list[ScoreRow], SampleBatch] | None:
    """The stored run of job ``job`` as ``(run row, score rows, samples)``, or ``None``."""
    for run in store.runs():
        if run["provenance"].get("job_key") == job:
            folder = Path(run["run_dir"])
            _, scores = read_run_record(folder)
            return run, scores, _stored_samples(folder)
    return None


def _stored_samples(folder: Path) -> SampleBatch:
    images = load_file(str(folder / "samples.safetensors"))["images"]
    meta = json.loads((folder / "samples.json").read_text())
    labels = None if meta["labels"] is None else torch.tensor(meta["labels"])
    sources = None if meta["sources"] is None else tuple(meta["sources"])
    return SampleBatch(images=images, labels=labels, sources=sources)


def latest_step(workdir: Path) -> tuple[int, Path] | None:
    """``(step, folder)`` of the newest checkpoint anywhere under ``workdir``, or ``None``."""
    found = []
    for pointer in workdir.glob("**/checkpoints/latest"):
        ref = CheckpointDir(pointer.parent.parent).latest()
        if ref is not None:
            found.append((ref.step, ref.path))
    return max(found) if found else None


def prepare_workdir(workdir: Path, *, resume: bool, restart: bool) -> None:
    """Refuse to start over a checkpoint unless asked: ``restart`` deletes ``workdir``;
    ``resume`` keeps it; neither, with a checkpoint present, raises :class:`CheckpointExists`."""
    if restart:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    newest = None if resume else latest_step(workdir)
    if newest is not None:
        step, path = newest
        raise CheckpointExists(
            f"A checkpoint of this run exists (step {step}, {path}). Add --resume to "
            "continue from it (a finished training is reused without training again), or "
            "--restart to delete it and start at step 0."
        )
