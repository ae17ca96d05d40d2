"""Images from anywhere, for scoring: a folder, a tensor, an ImageSet or a SampleBatch.

A folder loads exactly as the ``folder`` dataset does (:mod:`usbench.data.folder`):
grayscale ``[0, 1]``, centre-cropped to a square and resized to ``image_size`` (the
``center-crop+lanczos`` mode), class subfolders → labels, a flat folder → one class.

A folder of *generated* samples may instead hold ``manifest.csv`` with a ``file`` column
and, optionally, ``label`` (a class name of the reference set, or its index) and
``source`` (the name of the real training image the sample was derived from, which
paired metrics pair it with). Without a manifest, class subfolders whose names are
classes of the reference set give the labels (:func:`read_sample_folder`); a flat folder
is unlabelled. Generated samples may also be a ``.safetensors`` file or a ``usbench run``
folder (:mod:`usbench.sample_tensors`).

Duplicate files and images that had to be resized are reported as
:class:`usbench.input_notes.InputNote` warnings; they are scored anyway.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from pathlib import Path

import torch
from PIL import Image

from usbench.data.folder import (
    MANIFEST_NAME,
    DatasetLayoutError,
    FileTable,
    build_imageset,
    scan_folder,
)
from usbench.data.imageio import DEFAULT_RESIZE, load_stack
from usbench.data.imageset import ImageSet
from usbench.input_notes import warn_duplicates, warn_resized
from usbench.sample_tensors import read_sample_tensors, sample_tensor_file, tensor_image_size
from usbench.samples import SampleBatch

ImageSource = str | Path | torch.Tensor | ImageSet | SampleBatch


def check_folder(path: str | Path, role: str) -> Path:
    """``path`` as a folder that exists; ``role`` ("real images", "samples") names it in
    the error."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"{role}: folder {folder} does not exist; check the path")
    if not folder.is_dir():
        raise DatasetLayoutError(
            f"{role}: {folder} is a file, not a folder; give the folder of images that holds it"
        )
    return folder


def infer_image_size(source: ImageSource) -> int:
    """Side length to load at: a tensor's width, or the shorter side of a folder's first
    image (so square images are loaded without resampling)."""
    if isinstance(source, ImageSet | SampleBatch):
        return int(source.images.shape[-1])
    if torch.is_tensor(source):
        return int(source.shape[-1])
    tensors = sample_tensor_file(source)
    if tensors is not None:
        return tensor_image_size(tensors)
    folder = check_folder(source, "images")
    files = _sample_files(folder) if (folder / MANIFEST_NAME).is_file() else None
    first = folder / (files[0] if files else scan_folder(folder).files[0])
    with Image.open(first) as image:
        return min(image.size)


def as_imageset(source: ImageSource, *, image_size: int, name: str = "real") -> ImageSet:
    """The reference images as an :class:`ImageSet` (a tensor is one class, one patient per
    image; a folder loads like the ``folder`` dataset, without the patient-id warning)."""
    if isinstance(source, ImageSet):
        return source
    if isinstance(source, SampleBatch):
        source = source.images
    if torch.is_tensor(source):
        return _tensor_imageset(_checked_tensor(source), name)
    folder = check_folder(source, "real images")
    table = scan_folder(folder)
    with warnings.catch_warnings():  # patient ids do not matter when nothing is split
        warnings.filterwarnings("ignore", message=".*no patient ids.*")
        images = build_imageset(table, folder, image_size=image_size, resize=DEFAULT_RESIZE)
    warn_resized([folder / f for f in table.files], image_size, "real")
    return images


def as_samples(
    source: ImageSource, *, image_size: int, class_names: tuple[str, ...] = ()
) -> SampleBatch:
    """The generated images as a :class:`SampleBatch`; labels are indices into
    ``class_names`` (see the module docstring for where a folder's labels come from)."""
    if isinstance(source, SampleBatch):
        return source
    if isinstance(source, ImageSet):
        return SampleBatch(source.images)
    if torch.is_tensor(source):
        return SampleBatch(_checked_tensor(source))
    return read_samples(source, image_size=image_size, class_names=class_names)


def read_samples(
    path: str | Path,
    *,
    image_size: int,
    class_names: tuple[str, ...] = (),
    labels_required: bool = False,
) -> SampleBatch:
    """Generated images from a ``.safetensors`` file or a run folder holding
    ``samples.safetensors`` (:mod:`usbench.sample_tensors`), else a folder of images
    (:func:`read_sample_folder`)."""
    tensors = sample_tensor_file(path)
    if tensors is not None:
        return read_sample_tensors(tensors, class_names)
    return read_sample_folder(
        path, image_size=image_size, class_names=class_names, labels_required=labels_required
    )


def read_sample_folder(
    path: str | Path,
    *,
    image_size: int,
    class_names: tuple[str, ...] = (),
    labels_required: bool = False,
) -> SampleBatch:
    """Load a folder of generated images (``manifest.csv`` with ``file[,label,source]``, or
    image files/class subfolders as the ``folder`` dataset reads them).

    Class subfolders must all be classes of ``class_names`` when ``labels_required`` (the
    reference is a dataset) or when some of them are; a flat folder is unlabelled.
    """
    folder = check_folder(path, "samples")
    if (folder / MANIFEST_NAME).is_file():
        batch, files = _read_sample_manifest(folder, image_size, class_names)
    else:
        table = scan_folder(folder)
        files = [folder / f for f in table.files]
        pixels = load_stack(files, image_size, resize=DEFAULT_RESIZE)
        labels = _folder_labels(folder, table, class_names, labels_required)
        batch = SampleBatch(torch.from_numpy(pixels[:, None]), labels)
    warn_duplicates(folder, files)
    warn_resized(files, image_size, "generated")
    return batch


def _folder_labels(
    folder: Path, table: FileTable, class_names: tuple[str, ...], required: bool
) -> torch.Tensor | None:
    """Class-subfolder labels as indices into ``class_names`` (``None``: unlabelled)."""
    if not any("/" in f for f in table.files):
        return None  # a flat folder: one class named after the folder
    labels = table.labels
    subfolders = sorted(set(labels))
    unknown = [c for c in subfolders if c not in class_names]
    if not unknown:
        return torch.tensor([class_names.index(c) for c in labels], dtype=torch.int64)
    if required or len(unknown) < len(subfolders):
        raise DatasetLayoutError(
            f"sample class folder(s) {unknown} in {folder} are not classes of the reference "
            f"data {list(class_names)}; rename them to those classes, or put every sample "
            "in one flat folder to score them unlabelled"
        )
    return None


def folder_sha256(path: str | Path) -> str:
    """sha256 over every non-hidden file's relative path and bytes, in sorted order (of
    the file's bytes when ``path`` is a file)."""
    folder = Path(path)
    if folder.is_file():
        return hashlib.sha256(folder.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\x00")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _sample_files(folder: Path) -> list[str]:
    return [row["file"] for row in _manifest_rows(folder / MANIFEST_NAME)]


def _manifest_rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "file" not in (reader.fieldnames or ()):
            raise DatasetLayoutError(
                f"{manifest} has no 'file' column; its header must be 'file[,label,source]'"
            )
        rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows:
        raise DatasetLayoutError(f"{manifest} lists no images; add one row per sample file")
    for line, row in enumerate(rows, start=2):
        if not (manifest.parent / row["file"]).is_file():
            raise DatasetLayoutError(
                f"{manifest} line {line}: {manifest.parent / row['file']} does not exist"
            )
    return rows


def _read_sample_manifest(
    folder: Path, image_size: int, class_names: tuple[str, ...]
) -> tuple[SampleBatch, list[Path]]:
    rows = _manifest_rows(folder / MANIFEST_NAME)
    files = [folder / r["file"] for r in rows]
    pixels = load_stack(files, image_size, resize=DEFAULT_RESIZE)
    labels = None
    if all(r.get("label") for r in rows):
        labels = torch.tensor([_label_index(r["label"], class_names) for r in rows])
    sources = tuple(r["source"] for r in rows) if all(r.get("source") for r in rows) else None
    return SampleBatch(torch.from_numpy(pixels[:, None]), labels, sources), files


def _label_index(label: str, class_names: tuple[str, ...]) -> int:
    if label in class_names:
        return class_names.index(label)
    if label.isdigit() and int(label) < max(len(class_names), 1):
        return int(label)
    raise DatasetLayoutError(
        f"sample label {label!r} is not a class of the reference data {list(class_names)}; "
        "use one of those names (or its index)"
    )


def _checked_tensor(images: torch.Tensor) -> torch.Tensor:
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"image tensors must be N×1×H×W, got {tuple(images.shape)}")
    return images.detach().to("cpu", torch.float32).contiguous()


def _tensor_imageset(images: torch.Tensor, name: str) -> ImageSet:
    names = tuple(f"{name}/{i:06d}" for i in range(len(images)))
    return ImageSet(
        images=images,
        labels=torch.zeros(len(images), dtype=torch.int64),
        class_names=(name,),
        patient_ids=names,
        names=names,
        name=name,
    )
