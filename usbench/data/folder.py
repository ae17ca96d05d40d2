"""``folder:PATH`` — any local folder of images as a dataset.

Two layouts, checked in this order:

1. ``PATH/manifest.csv`` with columns ``file,label`` and optionally ``patient_id``,
   ``probe`` and ``mask`` (a label-map file per image: integer class indices, cropped
   and resized with nearest neighbour like its image; class names from the ``mask_names``
   setting). When present it is the authority: exactly the listed files are loaded
   (paths relative to ``PATH``), and nothing else in the folder is looked at.
2. Class subfolders ``PATH/<class>/**/*.png`` (any of
   :data:`usbench.data.imageio.IMAGE_SUFFIXES`); class names are the sorted subfolder
   names. A folder holding images and no subfolders is one class named after the folder,
   which is how a single-image generator gets its one image.

Without patient ids every image counts as its own patient; a warning says so once per
load, since splits of such a dataset are not patient-level. An empty class folder is an
error naming it (a silently missing class would shift every label index). Hidden files
and folders (``.name``) are ignored.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

from usbench.data.image_cache import cached_pixels
from usbench.data.imageio import DEFAULT_RESIZE, RESIZE_MODES, is_image_file, load_stack
from usbench.data.imageset import ImageSet
from usbench.data.label_maps import load_label_maps
from usbench.data.label_maps import mask_names as names_of_masks
from usbench.protocols import DatasetSource

MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class FolderConfig:
    """Settings of ``folder`` (``-d folder:PATH`` or ``-d folder:PATH,resize=none``).

    path: the folder (also given as the value after ``folder:``, or as ``--data-root``).
    resize: how an image becomes a square: center-crop+lanczos, center-crop+bilinear or
        none (images already square).
    mask_names: names of the label-map classes, ``;``-separated in value order
        (``"background;lesion"``); empty: ``0``, ``1``, ... from the values.
    cache: none (decode every image into memory at each load) or memmap (decode once into
        a memory-mapped file under ``$USBENCH_CACHE/images``, keyed by the files' paths,
        sizes and times; later loads read pages on demand: for tens of thousands of
        frames). The pixels, hence every score, are the same either way.
    """

    path: str = ""
    resize: Literal[RESIZE_MODES] = DEFAULT_RESIZE
    mask_names: str = ""
    cache: Literal["none", "memmap"] = "none"
    not_identity: ClassVar[tuple[str, ...]] = ("cache",)


class DatasetLayoutError(ValueError):
    """A dataset folder or manifest does not have the expected layout; says how to fix it."""


@dataclass(frozen=True)
class FileTable:
    """What to load: relative paths and their metadata, one entry per image.

    files: paths relative to the dataset root (POSIX form, used as image names).
    labels: class name of each file. patient_ids: ``None`` when unknown.
    probes: ``None`` when unknown. masks: label-map file of each image (relative to the
    root), or ``None``.
    """

    files: tuple[str, ...]
    labels: tuple[str, ...]
    patient_ids: tuple[str, ...] | None
    probes: tuple[str, ...] | None
    masks: tuple[str, ...] | None = None


class FolderDataset(DatasetSource):
    """Images from a local folder (class subfolders or a ``manifest.csv``).

    ``FolderDataset(FolderDataset.Config(path="/data/lus")).load(image_size=64)`` returns
    an :class:`ImageSet` named ``folder:<root>``; images ``N×1×S×S`` float32 in
    [0, 1], converted by :func:`usbench.data.imageio.load_grayscale`.
    """

    name: ClassVar[str] = "folder"
    Config: ClassVar[type] = FolderConfig
    positional: ClassVar[str] = "path"
    description: ClassVar[str] = (
        "Any local folder: PATH/<class>/*.png or PATH/manifest.csv (file,label[,patient_id,probe])."
    )

    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """Load every image under the folder (``path``, else ``root``); see the module
        docstring for the layouts."""
        if self.config.path and root is not None:
            raise ValueError(
                f"give the folder once: --dataset folder:{self.config.path} already names "
                "it, drop --data-root"
            )
        root = _check_root(Path(self.config.path) if self.config.path else root)
        table = scan_folder(root)
        return build_imageset(
            table,
            root,
            image_size=image_size,
            resize=self.config.resize,
            mask_names=self.config.mask_names,
            memmap=self.config.cache == "memmap",
        )


def _check_root(root: Path | None) -> Path:
    if root is None:
        raise ValueError("the folder dataset needs a path: use --dataset folder:/path/to/images")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"dataset folder {root} does not exist; check the path after 'folder:'"
        )
    if not root.is_dir():
        raise DatasetLayoutError(f"{root} is a file, not a folder; give the folder that holds it")
    return root


def scan_folder(root: Path) -> FileTable:
    """Find the images under ``root``: from ``manifest.csv`` if present, else from folders."""
    if (root / MANIFEST_NAME).is_file():
        return read_manifest(root / MANIFEST_NAME)
    return _scan_class_folders(root)


def read_manifest(manifest: Path) -> FileTable:
    """Parse ``file,label[,patient_id,probe]`` rows; every listed file must exist."""
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = {"file", "label"} - columns
        if missing:
            raise DatasetLayoutError(
                f"{manifest} lacks column(s) {sorted(missing)}; it needs a header "
                "'file,label' (optionally ',patient_id,probe')."
            )
        rows = list(reader)
    if not rows:
        raise DatasetLayoutError(f"{manifest} lists no images; add rows 'file,label'.")
    _check_manifest_rows(manifest, rows)
    has_patients = "patient_id" in columns
    return FileTable(
        files=tuple(Path(r["file"].strip()).as_posix() for r in rows),
        labels=tuple(r["label"].strip() for r in rows),
        patient_ids=tuple(r["patient_id"].strip() for r in rows) if has_patients else None,
        probes=tuple(r["probe"].strip() for r in rows) if "probe" in columns else None,
        masks=tuple(r["mask"].strip() for r in rows) if "mask" in columns else None,
    )


def _check_manifest_rows(manifest: Path, rows: list[dict[str, str]]) -> None:
    root = manifest.parent
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        file, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not file or not label:
            raise DatasetLayoutError(f"{manifest} line {line}: 'file' and 'label' must be set")
        if "patient_id" in row and not (row["patient_id"] or "").strip():
            raise DatasetLayoutError(
                f"{manifest} line {line}: empty patient_id; fill it in (or drop the column "
                "to treat every image as its own patient)"
            )
        if file in seen:
            raise DatasetLayoutError(f"{manifest} line {line}: {file} is listed twice")
        seen.add(file)
        for column in ("file", "mask"):
            value = (row.get(column) or "").strip() if column in row else None
            if value is not None and not (root / value).is_file():
                raise DatasetLayoutError(
                    f"{manifest} line {line}: {column} {root / value} does not exist; fix "
                    "the path (relative to the manifest's folder) or remove the row."
                )


def _scan_class_folders(root: Path) -> FileTable:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _images_in(root, recursive=False)
    if not class_dirs:
        if not loose:
            raise DatasetLayoutError(
                f"no images in {root}: put them in class folders ({root}/<class>/x.png) or "
                f"list them in {root / MANIFEST_NAME}; readable types: .png .jpg .bmp .tif"
            )
        return _table(root, {root.name or "images": loose})
    if loose:
        raise DatasetLayoutError(
            f"{root} holds both class folders and {len(loose)} loose image(s) (e.g. "
            f"{loose[0].name}); move them into a class folder or write {MANIFEST_NAME}."
        )
    per_class = {d.name: _images_in(d, recursive=True) for d in class_dirs}
    for class_name, files in per_class.items():
        if not files:
            raise DatasetLayoutError(
                f"class folder {root / class_name} holds no images; add images to it or "
                "remove the folder (readable types: .png .jpg .jpeg .bmp .tif .tiff)."
            )
    return _table(root, per_class)


def _images_in(folder: Path, *, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    found = [
        p
        for p in candidates
        if p.is_file()
        and is_image_file(p)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)


def _table(root: Path, per_class: dict[str, list[Path]]) -> FileTable:
    files, labels = [], []
    for class_name, paths in per_class.items():
        files += [p.relative_to(root).as_posix() for p in paths]
        labels += [class_name] * len(paths)
    return FileTable(tuple(files), tuple(labels), patient_ids=None, probes=None)


def build_imageset(
    table: FileTable,
    root: Path,
    *,
    image_size: int,
    resize: str,
    name: str | None = None,
    mask_names: str = "",
    memmap: bool = False,
) -> ImageSet:
    """Load the files of ``table`` (relative to ``root``) into an :class:`ImageSet`.

    Class names are the sorted distinct labels. Missing patient ids → one patient per
    image, with a warning. Label maps (``table.masks``) are loaded with
    :mod:`usbench.data.label_maps`; ``mask_names`` as in :class:`FolderConfig`.
    ``memmap``: pixels from the memory-mapped cache (:mod:`usbench.data.image_cache`).
    """
    class_names = tuple(sorted(set(table.labels)))
    index = {c: i for i, c in enumerate(class_names)}
    files = [root / f for f in table.files]
    if memmap:
        images = cached_pixels(files, root, image_size=image_size, resize=resize)
    else:
        images = torch.from_numpy(load_stack(files, image_size, resize=resize)[:, None])
    patient_ids = table.patient_ids
    if patient_ids is None:
        warnings.warn(
            f"{root}: no patient ids (add a patient_id column to {MANIFEST_NAME}), so each "
            "image counts as its own patient and splits are NOT patient-level.",
            UserWarning,
            stacklevel=3,
        )
        patient_ids = table.files
    return ImageSet(
        images=images,
        labels=torch.tensor([index[c] for c in table.labels], dtype=torch.int64),
        class_names=class_names,
        patient_ids=tuple(patient_ids),
        names=table.files,
        name=name or f"folder:{root}",
        probes=table.probes or (),
        **_label_maps(table, root, image_size, resize, mask_names),
    )


def _label_maps(table: FileTable, root: Path, image_size: int, resize: str, declared: str):
    if table.masks is None:
        return {}
    maps = load_label_maps([root / m for m in table.masks], image_size, resize=resize)
    return {"masks": torch.from_numpy(maps), "mask_names": names_of_masks(declared, maps)}


def label_counts(data: ImageSet) -> dict[str, int]:
    """``{class name: number of images}`` of an ImageSet (in class-index order)."""
    counts = np.bincount(data.labels.numpy(), minlength=len(data.class_names))
    return {c: int(n) for c, n in zip(data.class_names, counts, strict=True)}
