"""``lus``: seed 003's lung-ultrasound dataset, rebuilt from the POCUS repository.

Seed 003 (SinDDM/FewDDM) trains and tests on the POCUS data of Born et al. (2021):
convex probe, COVID-19 / bacterial pneumonia / healthy, every file with a non-commercial
licence removed; videos split into frames at 3 Hz, images cropped to a standard aspect
ratio; it reports 106 videos, 32 images and 1994 frames (823 / 267 / 904). This source
rebuilds that selection from the upstream repository at :data:`UPSTREAM_COMMIT`:

1. the commit's file listing and ``data/dataset_metadata.csv`` (see
   :mod:`usbench.data.pocus_upstream`: a local clone via ``--data-root``, or GitHub, each
   file checked against its git blob id);
2. the selection rule of :mod:`usbench.data.pocus_selection` (options widen it:
   ``linear``, ``viral``, ``noncommercial``; each is part of the dataset identity);
3. frames: stills as they are; videos sampled with Born et al.'s rule at ``frame_rate``
   Hz, at most ``max_frames`` per video (:mod:`usbench.data.pocus_frames`);
4. the preprocessing of ``lus-mini``: Pillow ``L`` (BT.601) grayscale, shorter side → 256
   with Lanczos, centre crop 256×256, saved as 8-bit PNG in the cache
   (``$USBENCH_CACHE/datasets/lus/frames-<key>``, ``key`` from the commit and options),
   with a ``manifest.csv`` giving every frame's class, patient, probe, source file, frame
   index and licence;
5. the frames loaded at the requested ``image_size`` like any folder dataset.

A patient's files never straddle a split (patient ids: see the selection module).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from usbench import paths
from usbench.data.folder import FileTable, build_imageset
from usbench.data.imageio import DEFAULT_RESIZE, RESIZE_MODES
from usbench.data.imageset import ImageSet
from usbench.data.pocus import UPSTREAM_COMMIT, encode_png, preprocess
from usbench.data.pocus_frames import read_sampled_frames
from usbench.data.pocus_selection import (
    Selection,
    SelectionRule,
    SourceFile,
    read_metadata,
    select,
    source_files,
)
from usbench.data.pocus_upstream import METADATA_PATH, UpstreamTree, open_tree
from usbench.fileio import atomic_write_bytes, atomic_write_text
from usbench.protocols import DatasetSource

MANIFEST_COLUMNS = (
    "file",
    "label",
    "patient_id",
    "probe",
    "source_file",
    "frame_index",
    "licence",
    "source_id",
)


@dataclass(frozen=True)
class LUSConfig:
    """Settings of ``lus``.

    frame_rate: frames per second taken from each video (seed 003: 3 Hz) [> 0].
    max_frames: most frames kept per video (Born et al.'s script: 30); 0 keeps all [>= 0].
    linear: also keep linear-probe files (seed 003: convex only).
    viral: also keep the viral-pneumonia class (seed 003: three classes).
    noncommercial: also keep files under non-commercial (NC) licences; for
        non-commercial research only (seed 003 removed them).
    resize: how a frame becomes a square: center-crop+lanczos, center-crop+bilinear or
        none (frames already square).
    commit: the upstream commit the dataset is built from.
    """

    frame_rate: float = 3.0
    max_frames: int = 30
    linear: bool = False
    viral: bool = False
    noncommercial: bool = False
    resize: Literal[RESIZE_MODES] = DEFAULT_RESIZE
    commit: str = UPSTREAM_COMMIT

    def __post_init__(self) -> None:
        if self.frame_rate <= 0 or self.max_frames < 0:
            raise ValueError("frame_rate must be > 0 and max_frames >= 0 (0: no cap)")

    def rule(self) -> SelectionRule:
        """The selection rule these options give."""
        classes = ("covid", "pneumonia", "regular") + (("viral",) if self.viral else ())
        probes = ("convex", "linear") if self.linear else ("convex",)
        return SelectionRule(classes=classes, probes=probes, noncommercial=self.noncommercial)


class POCUSLungFull(DatasetSource):
    """The ``lus`` dataset (seed 003's selection); see the module docstring.

    ``load(image_size=64, root=clone)`` → ImageSet ``lus`` ``N×1×64×64`` float32 in [0, 1],
    classes ``("covid", "pneumonia", "regular")``, patient ids and probes per frame.
    """

    name: ClassVar[str] = "lus"
    Config: ClassVar[type] = LUSConfig
    description: ClassVar[str] = (
        "POCUS lung ultrasound as seed 003 selects it (convex, no NC licence, 3 Hz frames);"
        " from a clone of the upstream repository or GitHub."
    )

    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """Build (once, cached) or reuse the frames, then load them at ``image_size``."""
        frames_dir, rows = self.build(root)
        table = FileTable(
            files=tuple(r["file"] for r in rows),
            labels=tuple(r["label"] for r in rows),
            patient_ids=tuple(r["patient_id"] for r in rows),
            probes=tuple(r["probe"] for r in rows),
        )
        return build_imageset(
            table, frames_dir, image_size=image_size, resize=self.config.resize, name=self.name
        )

    def selection(self, root: Path | None = None) -> Selection:
        """The upstream files this configuration keeps and the ones it excludes (and why)."""
        return self._select(self._tree(root))

    def source_summary(self, root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(per class: videos and stills kept, excluded files with their reason)``."""
        chosen = self.selection(root)
        kept = pd.DataFrame(
            {"class": [f.label for f in chosen.kept], "kind": [f.kind for f in chosen.kept]}
        )
        per_class = pd.crosstab(kept["class"], kept["kind"]).reindex(
            columns=["video", "image"], fill_value=0
        )
        per_class.columns = ["videos", "stills"]
        excluded = pd.DataFrame(list(chosen.excluded), columns=["file", "reason"])
        return per_class, excluded.set_index("file").sort_values("reason")

    def build(self, root: Path | None = None) -> tuple[Path, list[dict[str, str]]]:
        """``(frames folder, manifest rows)``: processed frames, built if not cached."""
        tree = self._tree(root)
        chosen = self._select(tree)
        if not chosen.kept:
            raise ValueError(
                "the lus selection keeps no file: the upstream listing has no convex "
                "COVID-19/pneumonia/regular file with a permitted licence"
            )
        folder = paths.dataset_dir("lus") / f"frames-{self._key(chosen.kept)}"
        manifest = folder / "manifest.csv"
        if manifest.is_file():
            rows = list(csv.DictReader(io.StringIO(manifest.read_text(encoding="utf-8"))))
            if all((folder / r["file"]).is_file() for r in rows):
                return folder, rows
        rows = []
        for source in tqdm(chosen.kept, desc="lus: extracting frames", unit="file"):
            rows += _write_frames(tree.fetch(source.path), source, folder, self.config)
        atomic_write_text(manifest, _manifest_text(rows))
        return folder, rows

    def _tree(self, root: Path | None) -> UpstreamTree:
        cache = paths.dataset_dir("lus") / "upstream"
        clone = Path(root).expanduser() if root is not None else None
        return open_tree(self.config.commit, clone=clone, cache=cache)

    def _select(self, tree: UpstreamTree) -> Selection:
        metadata = read_metadata(tree.fetch(METADATA_PATH).read_text(encoding="utf-8"))
        return select(source_files(tree.paths(), metadata), self.config.rule())

    def _key(self, kept: Sequence[SourceFile]) -> str:
        cfg = self.config
        identity = [cfg.commit, cfg.frame_rate, cfg.max_frames, [f.path for f in kept]]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def _write_frames(
    local: Path, source: SourceFile, folder: Path, cfg: LUSConfig
) -> list[dict[str, str]]:
    """Process one source file into ``folder/<label>/<probe>/<stem>[_fNNNN].png``; manifest rows."""
    if source.kind == "image":
        with Image.open(local) as img:
            frames = [(None, np.asarray(img.convert("RGB").convert("L")))]
    else:
        frames = [
            (index, np.asarray(Image.fromarray(rgb).convert("L")))
            for index, rgb in read_sampled_frames(local, cfg.frame_rate, cfg.max_frames)
        ]
    rows = []
    for index, gray in frames:
        suffix = "" if index is None else f"_f{index:04d}"
        file = f"{source.label}/{source.probe}/{source.stem}{suffix}.png"
        atomic_write_bytes(folder / file, encode_png(preprocess(gray)))
        rows.append(
            {
                "file": file,
                "label": source.label,
                "patient_id": source.patient_id,
                "probe": source.probe,
                "source_file": source.path,
                "frame_index": "" if index is None else str(index),
                "licence": source.licence,
                "source_id": source.source_id,
            }
        )
    return rows


def _manifest_text(rows: Sequence[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
