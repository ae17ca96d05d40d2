"""``usbench run``: resolve config → open data → fit or load → sample → score → store.

The run folder is assembled under a temporary name and renamed when complete; the
database learns of the run only after that, in one transaction. Training checkpoints live
in the store's ``work`` folder, one sub-folder per run key, so that ``resume=True``
continues a killed run; the run key is a hash of everything that determines the trained weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from usbench import provenance
from usbench.config import ConfigError, config_hash, config_to_dict, identity_dict
from usbench.data import open_dataset
from usbench.data.imageset import ImageSet
from usbench.data.splits import patient_split
from usbench.plugins import PluginSpec, resolve, resolve_list
from usbench.progress import showing_progress
from usbench.protocols import (
    FitContext,
    Generator,
    MetricUnavailable,
)
from usbench.run_folder import write_run_folder
from usbench.run_guard import (
    finished_run,
    job_key,
    job_lock,
    prepare_workdir,
    training_lock,
)
from usbench.samples import SampleBatch
from usbench.scoring import score_metrics
from usbench.store import RandomWeightsRefused, ResultStore, RunRow, ScoreRow
from usbench.task_fits import TaskFitter


@dataclass(frozen=True)
class RunRequest:
    """Everything ``usbench run`` needs.

    generator: a generator selector (``sinddm`` or ``sinddm:preset=paper,train.lr=1e-4``).
    dataset: a dataset selector (``lus-phantom:n_per_class=8``, ``folder:PATH``).
    overrides: ``--set`` values (strings) on top of the preset.
    data_options: dataset-specific ``key=value`` strings (``--data-option``).
    image_size: side the data are loaded at; default what the generator asks for
        (:meth:`usbench.protocols.Generator.data_image_size`).
    n_samples: images to generate (default: as many as the real test split, at least 16)
        [>= 1].
    metrics: a metric selector list (``"fid:layer=pool2,kid"``, ``"@seed002"``, or a
        tuple of selectors); default ``@all``, every metric and variant.
    tasks: task selectors to run after the metrics (text or tuple, as ``metrics``).
    task_preset: preset of every task's config (``paper``, ``quick``, ``smoke``).
    task_overrides: ``--task-set`` values (strings) on top of the task preset.
    test_fraction: share of patients held out as real test data [0, 1).
    resume: continue from the newest checkpoint of this run (a finished training is reused).
    load: a saved generator folder to sample from instead of training; its own config is
        the run's stored identity.
    restart: delete this run's checkpoints and train from step 0.
    """

    generator: str
    dataset: str
    preset: str = "quick"
    overrides: Mapping[str, str] = field(default_factory=dict)
    seed: int = 0
    data_root: Path | None = None
    data_options: Mapping[str, str] = field(default_factory=dict)
    image_size: int | None = None
    n_samples: int | None = None
    metrics: str | tuple[str, ...] | None = None
    tasks: str | tuple[str, ...] = ""
    task_preset: str = "quick"
    task_overrides: Mapping[str, str] = field(default_factory=dict)
    test_fraction: float = 0.2
    resume: bool = False
    load: Path | None = None
    progress: bool = True
    restart: bool = False

    def __post_init__(self) -> None:
        if self.n_samples is not None and self.n_samples < 1:
            raise ConfigError(f"n_samples={self.n_samples}: generate at least 1 image.")
        if self.image_size is not None and self.image_size < MIN_IMAGE_SIZE:
            raise ConfigError(
                f"image_size={self.image_size}: load images at {MIN_IMAGE_SIZE} px or more."
            )
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"test_fraction={self.test_fraction} must lie in [0, 1).")
        if self.resume and self.restart:
            raise ConfigError("--resume and --restart exclude each other; choose one.")


MIN_IMAGE_SIZE = 8
"""Smallest ``image_size`` a run accepts (px)."""


@dataclass
class RunResult:
    """What a finished run produced; ``reused``: it was already stored, nothing ran."""

    run_id: str
    run_dir: Path
    scores: list[ScoreRow]
    samples: SampleBatch
    reused: bool = False


def is_main_process() -> bool:
    """False in the non-zero ranks of an ``accelerate launch``/``torchrun`` job."""
    return int(os.environ.get("RANK", "0")) == 0


def execute(request: RunRequest, store: ResultStore) -> RunResult | None:
    """Run one benchmark job end to end and store it (see the module docstring).

    A job already in the store is returned as stored, not run again; an identical job
    running in another process is waited for and reused (:mod:`usbench.run_guard`).
    Returns ``None`` in the worker processes of a multi-process launch.
    """
    gen_spec = resolve_generator(request)
    metrics = "@all" if request.metrics is None else _joined(request.metrics)
    metric_specs = resolve_list("metrics", metrics)
    task_specs = resolve_tasks(request)  # bad task settings are refused before any training
    loaded = None
    if request.load is not None:  # the loaded generator's own config is the run's identity
        loaded = gen_spec.plugin.load(request.load)
        gen_spec = dataclasses.replace(gen_spec, config=loaded.config)
    data, train_set, test_set, split, key = open_run(request, gen_spec)
    identity = {
        "n_samples": _n_samples(request, train_set, test_set),
        "metrics": [spec.selector for spec in metric_specs],
        "tasks": [[spec.selector, config_to_dict(spec.config)] for spec in task_specs],
        "load": None if request.load is None else str(Path(request.load).resolve()),
    }
    job = job_key(key, identity)
    main = is_main_process()
    locks = store.root / "locks"
    with job_lock(locks, job) if main else contextlib.nullcontext():
        done = finished_run(store, job)
        if done is not None:
            run, scores, samples = done
            return RunResult(run["run_id"], Path(run["run_dir"]), scores, samples, reused=True)
        with training_lock(locks, key) if main else contextlib.nullcontext():
            if loaded is None:
                prepare_workdir(
                    store.work_dir / key, resume=request.resume, restart=request.restart
                )
            generator = loaded or _fit_or_load(gen_spec, train_set, request, store.work_dir / key)
        _refuse_stand_in_weights(generator)
        if not is_main_process():
            return None  # data-parallel workers only train; the main process does the rest
        with showing_progress(request.progress):
            samples = _sample(generator, request, train_set, test_set)
        inputs, outcomes = score_metrics(
            metric_specs, samples, train_set, test_set, request.seed, progress=request.progress
        )
        metric_scores = [outcome.row for outcome in outcomes]
        task_scores = run_tasks(task_specs, request, data, gen_spec, store.work_dir / key)
        scores = metric_scores + task_scores
        run_id = new_run_id(gen_spec.name, key, taken=Path(store.runs_dir))
        row = RunRow(
            run_id=run_id,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
            generator=gen_spec.name,
            preset=gen_spec.preset or request.preset,
            config=config_to_dict(gen_spec.config),
            config_hash=config_hash(gen_spec.config),
            dataset=data.name,
            data_hash=data.content_hash(),
            split=split,
            seed=request.seed,
            n_samples=len(samples),
            run_dir=str(store.runs_dir / run_id),
            provenance={
                **provenance.collect(),
                "request": _request_record(request, data),
                "run_key": key,
                "job_key": job,
            },
        )
        run_dir = write_run_folder(store, row, samples, scores, (inputs, outcomes), generator)
        store.add_run(row, scores)
    return RunResult(run_id, run_dir, scores, samples)


def resolve_generator(request: RunRequest) -> PluginSpec:
    """The request's generator plugin with its config (preset and ``--set`` values)."""
    return resolve(
        "generators", request.generator, preset=request.preset, overrides=request.overrides
    )


def resolve_tasks(request: RunRequest) -> list[PluginSpec]:
    """The request's task plugins with their configs (preset and ``--task-set`` values)."""
    return [
        resolve("tasks", s, preset=request.task_preset, overrides=request.task_overrides)
        for s in _selectors(_joined(request.tasks))
    ]


def open_run(request: RunRequest, gen_spec: PluginSpec):
    """``(data, train, test or None, split record, run key)`` of ``request`` trained as
    ``gen_spec``: the data opened, split by patient, and the key of the run's checkpoints."""
    data = _open_data(request, gen_spec)
    train_set, test_set, split = split_data(data, request)
    return (
        data,
        train_set,
        test_set,
        split,
        run_key(gen_spec, data.content_hash(), split, request.seed),
    )


def new_run_id(label: str, key: str, taken: Path | None = None) -> str:
    """``<UTC time>-<label>-<first 8 of key>``, the name of a run and its folder; when
    ``taken`` (the runs folder) already holds that name (a run of the same key within the
    same second), ``-2``, ``-3``... is appended."""
    base = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{label}-{key[:8]}"
    run_id, n = base, 1
    while taken is not None and (taken / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _request_record(request: RunRequest, data: ImageSet) -> dict[str, Any]:
    """What opened the data and chose the metrics, so a run can be re-scored later."""
    return {
        "generator": request.generator,
        "dataset": request.dataset,
        "data_options": dict(request.data_options),
        "data_root": None if request.data_root is None else str(request.data_root),
        "image_size": int(data.images.shape[-1]),
        "test_fraction": request.test_fraction,
        "metrics": None if request.metrics is None else _joined(request.metrics),
        "tasks": _joined(request.tasks),
    }


def _refuse_stand_in_weights(generator: Generator) -> None:
    if generator.published_weights() is False:
        raise RandomWeightsRefused(
            f"{generator.name} was built on stand-in (test) weights, not the published "
            "pretrained ones, so its samples are not benchmark results and nothing is stored. "
            "Point it at the real weights (see `usbench run --help` and the generator's docs)."
        )


def _joined(selectors: str | tuple[str, ...]) -> str:
    """A selector list as text (a tuple holds one selector per item)."""
    return selectors if isinstance(selectors, str) else ",".join(selectors)


def _selectors(text: str) -> list[str]:
    from usbench.selectors import parse_selector_list

    return [str(s) for s in parse_selector_list(text)]


def _open_data(request: RunRequest, gen_spec: PluginSpec) -> ImageSet:
    size = request.image_size or gen_spec.plugin.data_image_size(gen_spec.config) or 256
    return open_dataset(
        request.dataset, image_size=size, root=request.data_root, options=request.data_options
    )


def split_data(data: ImageSet, request: RunRequest) -> tuple[ImageSet, ImageSet | None, dict]:
    """:func:`split_by_patient` with the request's test fraction and seed."""
    return split_by_patient(data, test_fraction=request.test_fraction, seed=request.seed)


def split_by_patient(
    data: ImageSet, *, test_fraction: float, seed: int
) -> tuple[ImageSet, ImageSet | None, dict]:
    """Patient-level train/test split; with one patient everything trains, nothing tests.

    Returns ``(train, test or None, split record)``; ``usbench run`` and ``usbench score
    --samples`` make the same split of the same data with the same seed.
    """
    if len(set(data.patient_ids)) < 2 or test_fraction <= 0:
        return data, None, {"kind": "all-train", "train": len(data), "test": 0}
    train_idx, test_idx = patient_split(data, test_fraction=test_fraction, seed=seed)
    split = {
        "kind": "patient",
        "test_fraction": test_fraction,
        "seed": seed,
        "train": len(train_idx),
        "test": len(test_idx),
        "test_names_sha256": _names_hash([data.names[i] for i in test_idx]),
    }
    return data.subset(train_idx), data.subset(test_idx), split


def _names_hash(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def run_key(gen_spec: PluginSpec, data_hash: str, split: dict, seed: int) -> str:
    """Hash of everything that determines the trained weights."""
    payload = {
        "generator": gen_spec.name,
        "config": identity_dict(gen_spec.config),
        "data": data_hash,
        "split": split,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _fit_or_load(gen_spec: PluginSpec, train_set, request: RunRequest, workdir: Path) -> Generator:
    if request.load is not None:
        return gen_spec.plugin.load(request.load)
    generator = gen_spec.build()
    ctx = FitContext(
        workdir=workdir, seed=request.seed, resume=request.resume, progress=request.progress
    )
    generator.fit(train_set, ctx)
    return generator


def _n_samples(request: RunRequest, train_set: ImageSet, test_set: ImageSet | None) -> int:
    """``request.n_samples``, or as many as the real test split (train set), at least 16."""
    if request.n_samples is not None:
        return request.n_samples
    return max(16, len(test_set) if test_set is not None else len(train_set))


def _sample(generator: Generator, request: RunRequest, train_set, test_set) -> SampleBatch:
    n = _n_samples(request, train_set, test_set)
    if generator.uses_label_maps():
        return sample_from_label_maps(generator, n, request.seed, test_set or train_set)
    labels = None
    if generator.capabilities.class_conditional:
        labels = torch.arange(n) % len(train_set.class_names)
    return generator.sample(n, seed=request.seed, labels=labels)


def sample_from_label_maps(generator: Generator, n: int, seed: int, maps: ImageSet) -> SampleBatch:
    """Seed 002's paired protocol: sample ``i`` is drawn from the label map of real image
    ``i mod len(maps)`` (the held-out split when there is one) and paired with it."""
    if not maps.has_masks:
        raise ValueError(f"{maps.name} has no label maps to sample from")
    rows = torch.arange(n) % len(maps)
    labels = maps.labels[rows] if generator.capabilities.class_conditional else None
    sources = tuple(maps.names[int(i)] for i in rows)
    return generator.sample_from_maps(maps.masks[rows], seed=seed, labels=labels, sources=sources)


def run_tasks(
    task_specs: list[PluginSpec],
    request: RunRequest,
    data: ImageSet,
    gen_spec: PluginSpec,
    workdir: Path,
) -> list[ScoreRow]:
    """Every requested downstream task, fed a factory that trains this run's generator.

    The factory (:class:`usbench.task_fits.TaskFitter`) carries the generator's
    ``capabilities``, so a task can choose how to train it (once per class, once per
    image...) before the first fit; each fit resumes, or loads a finished one. A
    task that raises :class:`MetricUnavailable` (e.g. missing ImageNet weights) becomes
    one ``unavailable`` row with the fix.
    """
    rows: list[ScoreRow] = []
    for spec in task_specs:
        task, name = spec.build(), spec.name
        train_generator = TaskFitter(gen_spec, workdir, name, request.seed, request.progress)
        base = dict(source="task", version=task.version, variant=task.variant())
        try:
            scores = task.run(data, train_generator, seed=request.seed)
        except MetricUnavailable as err:
            rows.append(
                ScoreRow(
                    **base, name=name, status="unavailable", higher_is_better=True, message=str(err)
                )  # fmt: skip
            )
            continue
        for score in scores:
            rows.append(
                ScoreRow(
                    **base,
                    name=f"{name}/{score.metric}",
                    status="ok",
                    higher_is_better=score.higher_is_better,
                    value=score.value,
                    spread=score.spread,
                    n=score.n,
                    group=score.group,
                    details=score.details,
                )
            )
    return rows
