"""A tiny fake CAMUS download written with SimpleITK, in either published layout.

Every frame is ``H×W`` 8-bit grey with a label map holding the four CAMUS values; the
grey level of a frame encodes its patient, view and phase, so a test can check which file
ended up where.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIEWS, PHASES = ("2CH", "4CH"), ("ED", "ES")
SHAPE = (30, 20)  # taller than wide, like the sector scans


def grey_level(patient: int, view: str, phase: str) -> int:
    """The constant grey of one fake frame (distinct for every frame of 3 patients)."""
    return 40 * patient + 20 * VIEWS.index(view) + 10 * PHASES.index(phase)


def label_map(patient: int) -> np.ndarray:
    """Background, LV cavity (1), myocardium (2) around it, left atrium (3) below."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[4:18, 4:16] = 2
    labels[6:16, 6:14] = 1
    labels[20 : 26 + patient % 2, 6:14] = 3
    return labels


def write_camus(
    root: Path,
    *,
    patients: int = 3,
    layout: str = "nifti",
    qualities: tuple[str, ...] = ("Good", "Medium", "Poor"),
    unannotated: int = 0,
) -> Path:
    """``root/CAMUS_public/database_nifti/patient000k/...`` (``layout="nifti"``) or
    ``root/training/patient000k/*.mhd`` (``"mhd"``); ``unannotated`` more patients
    without ``_gt`` files (as the 2019 testing set). Returns ``root``."""
    import SimpleITK as sitk

    base = root / ("CAMUS_public/database_nifti" if layout == "nifti" else "training")
    suffix = ".nii.gz" if layout == "nifti" else ".mhd"
    for k in range(1, patients + unannotated + 1):
        name = f"patient{k:04d}"
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        for view in VIEWS:
            quality = qualities[(k - 1) % len(qualities)]
            (folder / f"Info_{view}.cfg").write_text(
                f"ED: 1\nES: 12\nNbFrame: 12\nSex: F\nAge: 60\nImageQuality: {quality}\n"
            )
            for phase in PHASES:
                frame = np.full(SHAPE, grey_level(k, view, phase), dtype=np.uint8)
                image = sitk.GetImageFromArray(frame)
                sitk.WriteImage(image, str(folder / f"{name}_{view}_{phase}{suffix}"))
                if k <= patients:
                    gt = sitk.GetImageFromArray(label_map(k))
                    sitk.WriteImage(gt, str(folder / f"{name}_{view}_{phase}_gt{suffix}"))
    return root
