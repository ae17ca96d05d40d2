"""The generator fits of downstream tasks: where each trains, and the factory tasks call.

A task fit trains in ``<run workdir>/tasks/<task>/<tag>-<digest>``, where the digest is a
hash of its training images (pixels, labels, names), so a checkpoint is only ever resumed
for the very images it was trained on, whatever the task's settings. A fit holds a file
lock on its folder while it trains (two processes never write one checkpoint) and leaves
``fit-done.json`` once finished; fitting again with ``resume`` then loads the weights
without training, which is how a sweep's fit jobs hand their work to the run. The task
gets the generator wrapped so that its synthetic draws are kept in ``<fit folder>/draws/``
(:mod:`usbench.task_draws`): a run resumed mid-task does not sample them again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from usbench.data.imageset import ImageSet
from usbench.fileio import atomic_write_text
from usbench.plugins import PluginSpec
from usbench.protocols import Capabilities, FitContext
from usbench.task_draws import KeptDraws

DONE_MARKER = "fit-done.json"
DRAWS = "draws"  # the fit's kept synthetic draws (usbench.task_draws)


def fit_workdir(run_workdir: Path, task: str, tag: str, train: ImageSet) -> Path:
    """The folder of the fit ``tag`` of ``task`` on ``train`` (see the module docstring)."""
    return Path(run_workdir) / "tasks" / task / f"{tag}-{train.content_hash()[:12]}"


def fit_done(workdir: Path) -> dict | None:
    """The record a finished fit left in ``workdir``, or ``None``."""
    marker = Path(workdir) / DONE_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


@dataclass(frozen=True)
class TaskFitter:
    """``train_generator(train, tag) -> Generator`` of :meth:`usbench.protocols.Task.run`:
    a fresh generator of ``gen_spec`` fit on ``train`` (resumed, or loaded when finished),
    whose draws are kept in the fit's folder (:class:`usbench.task_draws.KeptDraws`).

    gen_spec: the run's generator. run_workdir: the run's checkpoint folder (per run key).
    task: the task's name. seed: the run's seed. progress: show training progress bars.
    """

    gen_spec: PluginSpec
    run_workdir: Path
    task: str
    seed: int
    progress: bool = False

    @property
    def capabilities(self) -> Capabilities:
        """The generator's capabilities (tasks choose how to fit from them)."""
        return self.gen_spec.plugin.capabilities

    def __call__(self, train: ImageSet, tag: str) -> KeptDraws:
        workdir = fit_workdir(self.run_workdir, self.task, tag, train)
        workdir.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{workdir}.lock"):
            generator = self.gen_spec.build()
            ctx = FitContext(workdir=workdir, seed=self.seed, resume=True, progress=self.progress)
            generator.fit(train, ctx)
            if fit_done(workdir) is None:
                record = {
                    "task": self.task,
                    "tag": tag,
                    "images": len(train),
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "at": dt.datetime.now(dt.timezone.utc).isoformat(),
                }
                atomic_write_text(workdir / DONE_MARKER, json.dumps(record, indent=1))
        return KeptDraws(generator, workdir / DRAWS)
