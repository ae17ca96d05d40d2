"""A small fake of the upstream POCUS repository, as a real git clone with one commit.

The layout follows the upstream one (``data/dataset_metadata.csv``, ``data/pocus_videos/
<probe>/``, ``data/pocus_images/<probe>/``); file contents are generated. ``FILES`` says
what each file is and what the default ``lus`` selection must do with it.
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class FakeFile:
    """path; label and licence as the metadata states them; patient/source ids; frames
    of a video (0 for an image), fps; kept: what the default selection does."""

    path: str
    label: str
    licence: str
    patient: str
    source: str
    frames: int
    fps: float
    kept: bool


V, IM, LIN = "data/pocus_videos/convex/", "data/pocus_images/convex/", "data/pocus_images/linear/"
PNE = "Bacterial pneumonia"
FILES = (
    FakeFile(V + "Cov-a.mp4", "COVID-19", "CC BY 4.0", "10", "1", 20, 9, True),
    FakeFile(V + "Reg-b.avi", "regular", "CC BY 4.0", "11", "2", 7, 3, True),
    FakeFile(V + "Reg-c.gif", "regular", "Apache-2.0", "12", "3", 12, 10, True),
    FakeFile(IM + "Pne-d.png", PNE, "CC BY 4.0", "nd", "7", 0, 0, True),
    FakeFile(IM + "Pne-e.jpg", PNE, "CC BY-SA 4.0", "", "7", 0, 0, True),
    FakeFile(IM + "Cov-f.png", "COVID-19", "CC BY 4.0", "13", "4", 0, 0, True),
    FakeFile(V + "Cov-nc.mp4", "COVID-19", "CC BY-NC 4.0", "14", "5", 6, 9, False),
    FakeFile(LIN + "Cov-lin.png", "COVID-19", "CC BY 4.0", "15", "6", 0, 0, False),
    FakeFile(IM + "Vir-g.png", "Viral pneumonia", "CC BY 4.0", "16", "8", 0, 0, False),
)  # fmt: skip
UNLISTED = "data/pocus_images/convex/Reg-nometa.png"  # a file without a metadata row
# frames the default rule gives: Cov-a 9 fps → every 3rd of 20 = 7; Reg-b 3 fps → all 7;
# Reg-c 10 fps → every 3rd of 12 = 4; three images → 3.
EXPECTED_FRAMES = {"covid": 7 + 1, "pneumonia": 2, "regular": 7 + 4}


def make_clone(root: Path) -> tuple[Path, str]:
    """Write the fake repository under ``root``, commit it; ``(root, commit sha)``."""
    rng = np.random.default_rng(0)
    for f in FILES:
        _write_media(root / f.path, f, rng)
    _write_media(root / UNLISTED, FakeFile(UNLISTED, "", "", "", "", 0, 0, False), rng)
    meta = root / "data" / "dataset_metadata.csv"
    with meta.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Filename", "Label", "License", "Type", "Probe", "Source ID",
                         "Framerate", "Patient ID / Name"])  # fmt: skip
        for f in FILES:
            kind = "video" if f.frames else "image"
            probe = Path(f.path).parts[2]
            writer.writerow([Path(f.path).stem, f.label, f.licence, kind, probe, f.source,
                             f.fps or "", f.patient])  # fmt: skip
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fake upstream"], check=True)
    sha = subprocess.run([*git[:3], "rev-parse", "HEAD"], check=True, capture_output=True)
    return root, sha.stdout.decode().strip()


def _write_media(path: Path, f: FakeFile, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not f.frames:
        pixels = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        return
    frames = [np.full((48, 64, 3), 10 + 12 * i, np.uint8) for i in range(f.frames)]
    if path.suffix == ".gif":
        images = [Image.fromarray(x[..., 0]) for x in frames]
        images[0].save(
            path, save_all=True, append_images=images[1:], duration=int(1000 / f.fps), loop=0
        )
        return
    import cv2

    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, float(f.fps), (64, 48))
    for x in frames:
        writer.write(x)
    writer.release()
