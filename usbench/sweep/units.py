"""A sweep unit: one ``usbench run`` of the grid, and the folder that tracks it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from usbench.harness import RunRequest


@dataclass(frozen=True)
class Unit:
    """One grid point, a run with its own run key.

    generator: generator selector (``sinddm:preset=smoke``).
    dataset: dataset selector (``lus-phantom:n_per_class=8``).
    preset: generator preset when the selector names none.
    seed: the run's seed.
    overrides: ``--set`` values of this grid point, as ``(key, value)`` string pairs.
    data_root: local copy of the dataset, or ``None``.
    image_size: side the data are loaded at (``None``: the generator's).
    n_samples: images to generate (``None``: the harness default).
    metrics: metric selector list (``None``: ``@all``).
    tasks: task selector list (``""``: none).
    task_preset: preset of every task's config.
    task_overrides: ``--task-set`` values as ``(key, value)`` string pairs.
    """

    generator: str
    dataset: str
    preset: str
    seed: int
    overrides: tuple[tuple[str, str], ...] = ()
    data_root: str | None = None
    image_size: int | None = None
    n_samples: int | None = None
    metrics: str | None = None
    tasks: str = ""
    task_preset: str = "quick"
    task_overrides: tuple[tuple[str, str], ...] = field(default=())

    @property
    def unit_id(self) -> str:
        """Stable id: a hash of every field, so the same grid point keeps its id."""
        payload = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Short human name: ``generator/dataset/preset/seed`` plus the ``--set`` values."""
        sets = ",".join(f"{k}={v}" for k, v in self.overrides)
        return "/".join([self.generator, self.dataset, self.preset, f"s{self.seed}"]) + (
            f"[{sets}]" if sets else ""
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (pairs as lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unit:
        """Inverse of :meth:`to_dict`."""
        pairs = {k: tuple(tuple(p) for p in data[k]) for k in ("overrides", "task_overrides")}
        return cls(**{**data, **pairs})

    def request(self, *, progress: bool = False) -> RunRequest:
        """The harness request of this unit; ``resume`` is on, so a killed unit continues
        from its newest checkpoint."""
        return RunRequest(
            generator=self.generator,
            dataset=self.dataset,
            preset=self.preset,
            overrides=dict(self.overrides),
            seed=self.seed,
            data_root=None if self.data_root is None else Path(self.data_root),
            image_size=self.image_size,
            n_samples=self.n_samples,
            metrics=self.metrics,
            tasks=self.tasks,
            task_preset=self.task_preset,
            task_overrides=dict(self.task_overrides),
            resume=True,
            progress=progress,
        )


@dataclass(frozen=True)
class UnitFolder:
    """``<sweep>/units/<unit id>/``: what one unit has left behind.

    ``unit.json`` the unit; ``job.json`` its latest submission (executor, job id, logs);
    ``staged/<run id>/`` the run folder a job built; ``result.json`` the run's record,
    written atomically once that folder is complete; ``failed.json`` the error of a job
    that raised; ``ingested.json`` the run id once the store holds the run.
    """

    root: Path

    @property
    def staged(self) -> Path:
        return self.root / "staged"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def failed(self) -> Path:
        return self.root / "failed.json"

    @property
    def job(self) -> Path:
        return self.root / "job.json"

    @property
    def ingested(self) -> Path:
        return self.root / "ingested.json"

    def read(self, name: str) -> dict[str, Any] | None:
        """A JSON marker (``result``, ``failed``, ``job``, ``ingested``), or ``None``."""
        path = getattr(self, name)
        return json.loads(path.read_text()) if path.is_file() else None
