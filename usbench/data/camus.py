"""CAMUS: 2-D echocardiography with expert label maps (Leclerc et al., IEEE TMI 2019).

Apical two- and four-chamber views (``2CH``, ``4CH``) of every patient at end diastole
(``ED``) and end systole (``ES``), each frame with its manual segmentation. Two published
layouts are read, both from a local download (registration on the CREATIS platform, no
automatic download):

- ``CAMUS_public`` (2023, 500 patients, all annotated):
  ``database_nifti/patient0001/patient0001_2CH_ED.nii.gz`` with ``..._2CH_ED_gt.nii.gz``;
- the challenge release of 2019 (450 patients): ``training/patient0001/patient0001_2CH_ED.mhd``
  (+ ``.raw``) with ``..._gt.mhd``. Its ``testing/`` patients come without label maps and
  are left out (a warning says how many frames).

``--data-root`` may name the folder holding the patient folders or any parent on the way
(``CAMUS_public``, ``database_nifti``, the release's root with ``training/``). Files are
read with SimpleITK. ``Info_2CH.cfg``/``Info_4CH.cfg`` of each patient give the image
quality of the view (``Good``, ``Medium``, ``Poor``), used by ``min_quality``.

Label maps (values 0-3, CAMUS's own): background; LV endocardium (the left-ventricular
cavity inside the endocardium); LV epicardium (the myocardium between endo- and
epicardium); left atrium. Patient id = patient folder; image name
``patient0001/2CH_ED``. Grey levels (8-bit) are divided by 255. The sector scans are
taller than wide; ``resize=stretch`` (default, as CAMUS studies resize the whole frame to
a square) resizes the frame to ``S×S``, ``pad`` first pads it with black to a square, so
the anatomy keeps its aspect ratio. Images are resized bilinearly, label maps with
nearest neighbour. Probe geometry: ``convex`` (a fan whose apex is at the top centre,
which is what a phased-array sector scan is).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from PIL import Image

from usbench.data.imageset import ImageSet
from usbench.progress import progress_bar
from usbench.protocols import DatasetSource

CAMUS_VIEWS = ("2CH", "4CH")
CAMUS_PHASES = ("ED", "ES")
MASK_NAMES = ("background", "LV endocardium", "LV epicardium", "left atrium")
QUALITY_ORDER = ("poor", "medium", "good")
DOWNLOAD_PAGE = (
    "https://humanheart-project.creatis.insa-lyon.fr/database/#collection/6373703d73e9f0047faa1bc8"
)
_WHERE = (
    f"Download CAMUS by hand (free registration) from {DOWNLOAD_PAGE} (the CAMUS_public "
    "zip, or the 2019 challenge's training.zip), unpack it and pass the folder with "
    "--data-root /path/to/CAMUS_public"
)
_PATIENT = re.compile(r"patient\d+")
_SUFFIXES = (".nii.gz", ".nii", ".mhd")


@dataclass(frozen=True)
class CAMUSConfig:
    """Settings of ``camus``.

    views: apical views kept, ``2CH`` and/or ``4CH``.
    phases: cardiac phases kept, ``ED`` (end diastole) and/or ``ES`` (end systole).
    label: what the class label is: view (2CH/4CH), phase (ED/ES) or view+phase (four).
    min_quality: keep views whose Info_*.cfg image quality is at least this: poor (all),
        medium or good.
    resize: stretch (whole frame to the square) or pad (black borders to a square first).
    """

    views: tuple[Literal[CAMUS_VIEWS], ...] = CAMUS_VIEWS
    phases: tuple[Literal[CAMUS_PHASES], ...] = CAMUS_PHASES
    label: Literal["view", "phase", "view+phase"] = "view"
    min_quality: Literal[QUALITY_ORDER] = "poor"
    resize: Literal["stretch", "pad"] = "stretch"

    def __post_init__(self) -> None:
        if not self.views or not self.phases:
            raise ValueError("camus needs at least one view (2CH, 4CH) and one phase (ED, ES)")

    def class_names(self) -> tuple[str, ...]:
        """Class names in label order."""
        if self.label == "view":
            return tuple(v for v in CAMUS_VIEWS if v in self.views)
        if self.label == "phase":
            return tuple(p for p in CAMUS_PHASES if p in self.phases)
        return tuple(f"{v}_{p}" for v in CAMUS_VIEWS for p in CAMUS_PHASES
                     if v in self.views and p in self.phases)  # fmt: skip


class CAMUSMissing(FileNotFoundError):
    """No CAMUS download where it was looked for; the message says where to get it."""


@dataclass(frozen=True)
class CAMUSFrame:
    """One annotated frame: patient id, view, phase, image file and label-map file."""

    patient: str
    view: str
    phase: str
    image: Path
    mask: Path


class CAMUS(DatasetSource):
    """CAMUS echocardiography frames with their label maps (see the module docstring).

    ``load`` returns ``N×1×S×S`` float32 in [0, 1], ``N×S×S`` int64 masks indexing
    :data:`MASK_NAMES`, labels indexing :meth:`CAMUSConfig.class_names`.
    """

    name: ClassVar[str] = "camus"
    Config: ClassVar[type] = CAMUSConfig
    description: ClassVar[str] = (
        "CAMUS echocardiography (2CH/4CH, ED/ES) with LV/myocardium/atrium label maps, "
        "local --data-root"
    )

    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """Read the selected frames under ``root``, resized to ``image_size``."""
        cfg = self.config
        frames = [f for f in list_frames(find_camus_root(root)) if self._keeps(f)]
        if not frames:
            raise CAMUSMissing(
                f"no CAMUS frame under {root} matches views={cfg.views}, phases={cfg.phases}, "
                f"min_quality={cfg.min_quality}; widen the selection"
            )
        images = np.empty((len(frames), 1, image_size, image_size), dtype=np.float32)
        masks = np.empty((len(frames), image_size, image_size), dtype=np.int64)
        with progress_bar(len(frames), "camus: reading frames") as bar:
            for i, frame in enumerate(frames):
                images[i, 0], masks[i] = read_frame(frame, image_size, cfg.resize)
                bar.update(1)
        classes = cfg.class_names()
        return ImageSet(
            images=torch.from_numpy(images),
            labels=torch.tensor([classes.index(self._class(f)) for f in frames]),
            class_names=classes,
            patient_ids=tuple(f.patient for f in frames),
            names=tuple(f"{f.patient}/{f.view}_{f.phase}" for f in frames),
            name=self.name,
            probes=("convex",) * len(frames),
            masks=torch.from_numpy(masks),
            mask_names=MASK_NAMES,
        )

    def _class(self, frame: CAMUSFrame) -> str:
        label = self.config.label
        return {"view": frame.view, "phase": frame.phase}.get(label, f"{frame.view}_{frame.phase}")

    def _keeps(self, frame: CAMUSFrame) -> bool:
        cfg = self.config
        if frame.view not in cfg.views or frame.phase not in cfg.phases:
            return False
        if cfg.min_quality == "poor":
            return True
        quality = view_quality(frame.image.parent, frame.view)
        return QUALITY_ORDER.index(quality) >= QUALITY_ORDER.index(cfg.min_quality)


def find_camus_root(root: Path | None) -> Path:
    """The folder holding the ``patientXXXX`` folders: ``root`` itself or one of the
    published sub-folders below it. Raises :class:`CAMUSMissing` with the download hint."""
    if root is None:
        raise CAMUSMissing(f"The camus dataset needs a local copy. {_WHERE}.")
    root = Path(root).expanduser()
    for sub in ("", "database_nifti", "CAMUS_public/database_nifti", "training"):
        candidate = root / sub
        if candidate.is_dir() and any(_PATIENT.fullmatch(p.name) for p in candidate.iterdir()):
            return candidate
    raise CAMUSMissing(f"{root} holds no CAMUS patient folders (patient0001/ ...). {_WHERE}.")


def list_frames(folder: Path) -> list[CAMUSFrame]:
    """Every annotated frame under ``folder`` (patients sorted, then 2CH/4CH, ED/ES).

    Raises :class:`CAMUSMissing` when a patient lacks a frame image; frames without a
    label map (the 2019 release's testing patients) are left out with one warning.
    """
    frames, unannotated = [], 0
    patients = sorted(p for p in folder.iterdir() if p.is_dir() and _PATIENT.fullmatch(p.name))
    for patient in patients:
        for view in CAMUS_VIEWS:
            for phase in CAMUS_PHASES:
                image = _frame_file(patient, f"{patient.name}_{view}_{phase}")
                mask = _frame_file(patient, f"{patient.name}_{view}_{phase}_gt")
                if mask is None:
                    unannotated += 1
                    continue
                frames.append(CAMUSFrame(patient.name, view, phase, image, mask))
    if unannotated:
        warnings.warn(
            f"camus: {unannotated} frame(s) under {folder} have no label map (*_gt file) "
            "and are left out",
            UserWarning,
            stacklevel=3,
        )
    return frames


def _frame_file(patient: Path, stem: str) -> Path | None:
    for suffix in _SUFFIXES:
        if (patient / f"{stem}{suffix}").is_file():
            return patient / f"{stem}{suffix}"
    if stem.endswith("_gt"):
        return None
    raise CAMUSMissing(
        f"{patient / stem}.nii.gz (or .mhd) is missing: the download is incomplete. {_WHERE}."
    )


def view_quality(patient: Path, view: str) -> str:
    """``poor``/``medium``/``good`` from ``Info_<view>.cfg`` (``ImageQuality: Good`` line)."""
    info = patient / f"Info_{view}.cfg"
    if not info.is_file():
        raise CAMUSMissing(f"{info} is missing, so min_quality cannot be applied. {_WHERE}.")
    for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "ImageQuality" and value.strip().lower() in QUALITY_ORDER:
            return value.strip().lower()
    raise ValueError(f"{info} has no 'ImageQuality: Good|Medium|Poor' line")


def read_array(path: Path) -> np.ndarray:
    """The ``H×W`` pixel array of a NIfTI or MetaImage file (SimpleITK, rows first)."""
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    array = array.reshape(array.shape[-2:]) if array.ndim == 3 and array.shape[0] == 1 else array
    if array.ndim != 2:
        raise ValueError(f"{path}: expected one 2-D frame, got an array of {array.shape}")
    return array


def read_frame(frame: CAMUSFrame, size: int, resize: str) -> tuple[np.ndarray, np.ndarray]:
    """``(S×S float32 image in [0, 1], S×S int64 label map)`` of one frame."""
    pixels, labels = read_array(frame.image), read_array(frame.mask)
    if pixels.shape != labels.shape:
        raise ValueError(f"{frame.mask}: {labels.shape} does not match its image {pixels.shape}")
    if labels.min() < 0 or labels.max() >= len(MASK_NAMES):
        raise ValueError(f"{frame.mask}: values outside 0-3 (the CAMUS labels)")
    grey = pixels.astype(np.float32) / 255.0
    if grey.max() > 1.0:
        raise ValueError(f"{frame.image}: grey levels above 255; CAMUS frames are 8-bit")
    if resize == "pad":
        grey, labels = pad_square(grey), pad_square(labels)
    image = Image.fromarray(grey).resize((size, size), Image.Resampling.BILINEAR)
    mask = Image.fromarray(labels.astype(np.int32), mode="I")
    mask = mask.resize((size, size), Image.Resampling.NEAREST)
    return np.clip(np.asarray(image), 0.0, 1.0), np.asarray(mask).astype(np.int64)


def pad_square(plane: np.ndarray) -> np.ndarray:
    """``plane`` centred on a zero square of side ``max(H, W)``."""
    h, w = plane.shape
    side = max(h, w)
    out = np.zeros((side, side), dtype=plane.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = plane
    return out
