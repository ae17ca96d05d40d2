"""``usbench score --samples``: store samples generated elsewhere as a run beside trained ones.

The samples are scored against the same patient-level split of the dataset that
``usbench run`` makes (:func:`usbench.harness.split_by_patient`, same seed and test
fraction), so their numbers sit in the leaderboard next to generators trained here. The
run's generator is ``external:<name>``, its preset ``external`` and its config the
description plus a content hash of the sample folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usbench import provenance
from usbench.data import open_dataset
from usbench.data.folder import DatasetLayoutError
from usbench.data.imageset import ImageSet
from usbench.harness import RunResult, new_run_id, split_by_patient, write_run_folder
from usbench.plugins import resolve_list
from usbench.sample_sources import folder_sha256, infer_image_size, read_samples
from usbench.sample_tensors import sample_tensor_file
from usbench.samples import SampleBatch
from usbench.scoring import score_metrics
from usbench.store import ResultStore, RunRow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ExternalRequest:
    """Everything ``usbench score --samples`` needs.

    samples: folder of generated images (optional ``manifest.csv``: ``file,label,source``),
        a ``.safetensors`` file of them or a ``usbench run`` folder
        (:mod:`usbench.sample_tensors`).
    dataset: dataset selector the generator was trained on (as for ``usbench run``).
    name: the generator's name; stored as ``external:<name>``.
    metrics: metric selector list (default ``@all``, as ``usbench run``).
    test_fraction, seed: the split of ``usbench run`` (and the metrics' seed).
    """

    samples: Path
    dataset: str
    name: str
    description: str = ""
    data_root: Path | None = None
    data_options: Mapping[str, str] = field(default_factory=dict)
    metrics: str = "@all"
    seed: int = 0
    test_fraction: float = 0.2


def score_external(request: ExternalRequest, store: ResultStore) -> RunResult:
    """Load, score and store the samples of ``request`` as one run (module docstring)."""
    if not _NAME.match(request.name):
        raise ValueError(
            f"--name {request.name!r}: use letters, digits, '.', '_' or '-' (e.g. my-gan)"
        )
    specs = resolve_list("metrics", request.metrics)
    size = infer_image_size(request.samples)
    data = open_dataset(
        request.dataset, image_size=size, root=request.data_root, options=request.data_options
    )
    samples = read_samples(
        request.samples, image_size=size, class_names=data.class_names, labels_required=True
    )
    _check_sources(samples, data)
    train_set, test_set, split = split_by_patient(
        data, test_fraction=request.test_fraction, seed=request.seed
    )
    inputs, outcomes = score_metrics(specs, samples, train_set, test_set, request.seed)
    scores = [outcome.row for outcome in outcomes]
    row = _run_row(request, store, data, split, samples, size)
    run_dir = write_run_folder(store, row, samples, scores, (inputs, outcomes))
    store.add_run(row, scores)
    return RunResult(row.run_id, run_dir, scores, samples)


def _run_row(
    request: ExternalRequest,
    store: ResultStore,
    data: ImageSet,
    split: dict,
    samples: SampleBatch,
    image_size: int,
) -> RunRow:
    hashed = sample_tensor_file(request.samples) or request.samples
    config = {"description": request.description, "samples_sha256": folder_sha256(hashed)}
    config_text = json.dumps(config, sort_keys=True)
    key_text = json.dumps([config_text, data.content_hash(), split, request.seed])
    key = hashlib.sha256(key_text.encode()).hexdigest()
    run_id = new_run_id(f"external-{request.name}", key, taken=Path(store.runs_dir))
    return RunRow(
        run_id=run_id,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(),
        generator=f"external:{request.name}",
        preset="external",
        config=config,
        config_hash=hashlib.sha256(config_text.encode()).hexdigest()[:12],
        dataset=data.name,
        data_hash=data.content_hash(),
        split=split,
        seed=request.seed,
        n_samples=len(samples),
        run_dir=str(store.runs_dir / run_id),
        provenance={**provenance.collect(), "request": _request_record(request, image_size)},
    )


def _request_record(request: ExternalRequest, image_size: int) -> dict[str, Any]:
    """What loaded the samples, opened the data and chose the metrics."""
    return {
        "samples": str(request.samples),
        "name": request.name,
        "dataset": request.dataset,
        "data_options": dict(request.data_options),
        "data_root": None if request.data_root is None else str(request.data_root),
        "image_size": image_size,
        "test_fraction": request.test_fraction,
        "metrics": request.metrics,
    }


def _check_sources(samples: SampleBatch, data: ImageSet) -> None:
    """Every ``source`` in the manifest must name an image of the dataset."""
    if samples.sources is None:
        return
    known = set(data.names)
    unknown = [s for s in samples.sources if s not in known]
    if unknown:
        raise DatasetLayoutError(
            f"manifest source {unknown[0]!r} is not an image of {data.name} "
            f"({len(unknown)} unknown); sources are dataset image names such as "
            f"{data.names[0]!r}"
        )
