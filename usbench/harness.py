"""``usbench run``: resolve config → open data → fit or load → sample → score → store.

The run folder is assembled under a temporary name and renamed when complete; the
database learns of the run only after that, in one transaction. Training checkpoints live
in the store's ``work`` folder, one sub-folder per run key, so that ``resume=True``
continues a killed run; the run key is a hash of everything that determines the trained weights.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from usbench import provenance
from usbench.config import config_hash, config_to_dict
from usbench.data import open_dataset
from usbench.data.imageset import ImageSet
from usbench.data.splits import patient_split
from usbench.fileio import atomic_write_text
from usbench.images import save_png_grid, save_pngs
from usbench.plugins import PluginSpec, resolve, resolve_list
from usbench.protocols import (
    FitContext,
    Generator,
    MetricUnavailable,
)
from usbench.samples import SampleBatch
from usbench.scoring import draw_metric_figures, score_metrics
from usbench.store import RandomWeightsRefused, ResultStore, RunRow, ScoreRow
from usbench.store_rebuild import RECORD_NAME, run_record


@dataclass(frozen=True)
class RunRequest:
    """Everything ``usbench run`` needs.

    generator: a generator selector (``sinddm`` or ``sinddm:preset=paper,train.lr=1e-4``).
    dataset: a dataset selector (``lus-phantom:n_per_class=8``, ``folder:PATH``).
    overrides: ``--set`` values (strings) on top of the preset.
    data_options: dataset-specific ``key=value`` strings (``--data-option``).
    image_size: side the data are loaded at; default what the generator asks for
        (:meth:`usbench.protocols.Generator.data_image_size`).
    n_samples: images to generate (default: as many as the real test split, at least 16).
    metrics: a metric selector list (``"fid:layer=pool2,kid"``, ``"@seed002"``, or a
        tuple of selectors); default ``@all``, every metric and variant.
    tasks: task selectors to run after the metrics (text or tuple, as ``metrics``).
    task_preset: preset of every task's config (``paper``, ``quick``, ``smoke``).
    task_overrides: ``--task-set`` values (strings) on top of the task preset.
    test_fraction: share of patients held out as real test data.
    load: a saved generator folder to sample from instead of training.
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


@dataclass
class RunResult:
    """What a finished run produced."""

    run_id: str
    run_dir: Path
    scores: list[ScoreRow]
    samples: SampleBatch


def is_main_process() -> bool:
    """False in the non-zero ranks of an ``accelerate launch``/``torchrun`` job."""
    return int(os.environ.get("RANK", "0")) == 0


def execute(request: RunRequest, store: ResultStore) -> RunResult | None:
    """Run one benchmark job end to end and store it (see the module docstring).

    Returns ``None`` in the worker processes of a multi-process launch.
    """
    gen_spec = resolve(
        "generators", request.generator, preset=request.preset, overrides=request.overrides
    )
    metrics = "@all" if request.metrics is None else _joined(request.metrics)
    metric_specs = resolve_list("metrics", metrics)
    task_specs = [  # bad task settings are refused here, before any training
        resolve("tasks", s, preset=request.task_preset, overrides=request.task_overrides)
        for s in _selectors(_joined(request.tasks))
    ]
    config = gen_spec.config
    data = _open_data(request, gen_spec)
    train_set, test_set, split = split_data(data, request)
    key = run_key(gen_spec, data.content_hash(), split, request.seed)
    generator = _fit_or_load(gen_spec, train_set, request, store.work_dir / key)
    _refuse_stand_in_weights(generator)
    if not is_main_process():
        return None  # data-parallel workers only train; the main process does the rest
    samples = _sample(generator, request, train_set, test_set)
    inputs, outcomes = score_metrics(metric_specs, samples, train_set, test_set, request.seed)
    metric_scores = [outcome.row for outcome in outcomes]
    task_scores = run_tasks(task_specs, request, data, gen_spec, store.work_dir / key)
    scores = metric_scores + task_scores

    run_id = new_run_id(gen_spec.name, key)
    row = RunRow(
        run_id=run_id,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        generator=gen_spec.name,
        preset=gen_spec.preset or request.preset,
        config=config_to_dict(config),
        config_hash=config_hash(config),
        dataset=data.name,
        data_hash=data.content_hash(),
        split=split,
        seed=request.seed,
        n_samples=len(samples),
        run_dir=str(store.runs_dir / run_id),
        provenance={**provenance.collect(), "request": _request_record(request, data)},
    )
    run_dir = write_run_folder(store, row, samples, scores, (inputs, outcomes), generator)
    store.add_run(row, scores)
    return RunResult(run_id, run_dir, scores, samples)


def new_run_id(label: str, key: str) -> str:
    """``<UTC time>-<label>-<first 8 of key>``, the name of a run and its folder."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{label}-{key[:8]}"


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
        "config": config_to_dict(gen_spec.config),
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


def _sample(generator: Generator, request: RunRequest, train_set, test_set) -> SampleBatch:
    n = request.n_samples or max(16, len(test_set) if test_set is not None else len(train_set))
    labels = None
    if generator.capabilities.class_conditional:
        labels = torch.arange(n) % len(train_set.class_names)
    return generator.sample(n, seed=request.seed, labels=labels)


def run_tasks(
    task_specs: list[PluginSpec],
    request: RunRequest,
    data: ImageSet,
    gen_spec: PluginSpec,
    workdir: Path,
) -> list[ScoreRow]:
    """Every requested downstream task, fed a factory that trains this run's generator.

    The factory carries the generator's ``capabilities`` as an attribute, so a task can
    choose how to train it (once per class, once per image...) before the first fit. A
    task that raises :class:`MetricUnavailable` (e.g. missing ImageNet weights) becomes
    one ``unavailable`` row with the fix.
    """
    rows: list[ScoreRow] = []
    for spec in task_specs:
        task, name = spec.build(), spec.name

        def train_generator(train: ImageSet, tag: str, _task=name) -> Generator:
            generator = gen_spec.build()
            ctx = FitContext(
                workdir=workdir / "tasks" / _task / tag,
                seed=request.seed,
                resume=True,
                progress=request.progress,
            )
            generator.fit(train, ctx)
            return generator

        train_generator.capabilities = gen_spec.plugin.capabilities
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


def write_run_folder(
    store: ResultStore,
    row: RunRow,
    samples: SampleBatch,
    scores: list[ScoreRow],
    metric_outcomes: tuple,
    generator: Generator | None = None,
) -> Path:
    """Assemble the run folder under a temporary name, then rename it into place.

    ``metric_outcomes`` is what :func:`usbench.scoring.score_metrics` returned; the
    generator is saved under ``generator/`` when there is one (external samples have none).
    """
    final = Path(row.run_dir)
    tmp = final.with_name(f".partial-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if generator is not None:
            generator.save(tmp / "generator")
        save_pngs(samples.images, tmp / "samples")
        save_file({"images": samples.images.contiguous()}, str(tmp / "samples.safetensors"))
        save_png_grid(samples.images, tmp / "samples_grid.png")
        draw_metric_figures(*metric_outcomes, tmp / "figures")
        meta = {
            "labels": None if samples.labels is None else samples.labels.tolist(),
            "sources": None if samples.sources is None else list(samples.sources),
        }
        atomic_write_text(tmp / "samples.json", json.dumps(meta, indent=2))
        atomic_write_text(tmp / "config.json", json.dumps(row.config, indent=2))
        atomic_write_text(tmp / "provenance.json", json.dumps(row.provenance, indent=2))
        summary = [{k: v for k, v in vars(s).items() if k != "per_sample"} for s in scores]
        atomic_write_text(tmp / "scores.json", json.dumps(summary, indent=2, default=str))
        atomic_write_text(tmp / RECORD_NAME, run_record(row, scores))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
