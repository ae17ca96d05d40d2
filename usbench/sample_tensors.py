"""Generated samples stored as tensors: a ``.safetensors`` file or a ``usbench run`` folder.

The file holds ``images``, an ``N×1×H×W`` float tensor in ``[0, 1]`` with ``H = W``
(float16/float64 are converted to float32), and optionally ``labels``, ``N`` integer
class indices into the reference data's classes. A run folder's ``samples.safetensors``
has no labels tensor; its labels and source images are read from the ``samples.json``
beside it. Tensors are scored as they are: no 8-bit rounding, no resizing.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from usbench.data.folder import DatasetLayoutError
from usbench.samples import SampleBatch

RUN_SAMPLES = "samples.safetensors"
RUN_SAMPLE_META = "samples.json"
_SUFFIX = ".safetensors"


def sample_tensor_file(path: object) -> Path | None:
    """The tensor file ``path`` stands for: itself if it ends in ``.safetensors``, a run
    folder's ``samples.safetensors``, else ``None`` (a folder of images)."""
    if not isinstance(path, str | Path):
        return None
    path = Path(path).expanduser()
    if path.suffix.lower() == _SUFFIX:
        if not path.is_file():
            raise FileNotFoundError(f"samples: {path} does not exist; check the path")
        return path
    if path.is_dir() and (path / RUN_SAMPLES).is_file():
        return path / RUN_SAMPLES
    return None


def tensor_image_size(file: Path) -> int:
    """Side of the square images in ``file`` (read from the header, no pixels loaded)."""
    with _open(file) as handle:
        return int(_images_shape(file, handle)[-1])


def read_sample_tensors(file: Path, class_names: tuple[str, ...] = ()) -> SampleBatch:
    """The samples of ``file`` with their labels (checked against ``class_names``) and,
    for a run folder, the sources listed in ``samples.json``."""
    with _open(file) as handle:
        _images_shape(file, handle)
        images = handle.get_tensor("images").to(torch.float32).contiguous()
        keys = set(handle.keys())
        labels = handle.get_tensor("labels") if "labels" in keys else None
    sources = None
    meta = file.with_name(RUN_SAMPLE_META)
    if file.name == RUN_SAMPLES and meta.is_file():
        record = json.loads(meta.read_text())
        if labels is None and record.get("labels") is not None:
            labels = torch.tensor(record["labels"])
        sources = tuple(record["sources"]) if record.get("sources") is not None else None
    if labels is not None:
        labels = _checked_labels(file, labels, len(images), class_names)
    return SampleBatch(images, labels, sources)


def _open(file: Path):
    try:
        return safe_open(str(file), framework="pt")
    except (SafetensorError, OSError) as err:
        raise DatasetLayoutError(
            f"{file} is not a readable safetensors file ({err}); save the samples with "
            "safetensors.torch.save_file({'images': images}, path)"
        ) from err


def _images_shape(file: Path, handle) -> list[int]:
    keys = sorted(handle.keys())
    if "images" not in keys:
        raise DatasetLayoutError(
            f"{file} holds {keys} but no 'images' tensor; save the samples "
            "as {'images': N×1×H×W float in [0, 1], 'labels': N class indices (optional)}"
        )
    shape = list(handle.get_slice("images").get_shape())
    if len(shape) != 4 or shape[1] != 1 or shape[2] != shape[3]:
        raise DatasetLayoutError(
            f"{file}: 'images' is {tuple(shape)}; it must be N×1×H×W grayscale with H = W"
        )
    return shape


def _checked_labels(
    file: Path, labels: torch.Tensor, n: int, class_names: tuple[str, ...]
) -> torch.Tensor:
    if labels.shape != (n,) or labels.is_floating_point():
        raise DatasetLayoutError(
            f"{file}: 'labels' must be {n} integer class indices, got "
            f"{tuple(labels.shape)} {labels.dtype}"
        )
    labels = labels.to(torch.int64)
    bad = labels[(labels < 0) | (labels >= max(len(class_names), 1))]
    if class_names and len(bad):
        raise DatasetLayoutError(
            f"{file}: label {int(bad[0])} is not a class of the reference data "
            f"(indices 0..{len(class_names) - 1} = {list(class_names)}); relabel the samples"
        )
    return labels
