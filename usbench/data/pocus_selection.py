"""Which upstream POCUS files make up ``lus``: the metadata, the selection rule, patients.

Seed 003 (SinDDM/FewDDM for lung ultrasound) used the POCUS data of Born et al. (2021)
"after removing all images and videos with non-commercial licenses", convex probe only,
classes COVID-19, bacterial pneumonia and healthy. :func:`select` applies that rule to
the upstream ``data/dataset_metadata.csv`` joined with the files the pinned commit holds
under ``data/pocus_videos/<probe>/`` and ``data/pocus_images/<probe>/``:

* a file is matched to its metadata row by file name without extension (case-insensitive;
  the metadata has no extensions); a file with no row is excluded ("no metadata row"),
  since its licence is unknown;
* label from the metadata's ``Label`` (COVID-19 → ``covid``, bacterial pneumonia →
  ``pneumonia``, regular/healthy → ``regular``, viral pneumonia → ``viral``);
* licence from ``License``: any licence naming NC (non-commercial) is excluded unless the
  rule allows it; a missing licence is kept and reported as stated (the seed's rule only
  removes NC licences);
* probe from the folder the file sits in (``convex`` / ``linear``);
* patient: the metadata's ``Patient ID / Name`` when it holds an id; otherwise the
  metadata cannot tell patients apart, and all such files of one ``Source ID`` (one
  publication or website) are grouped as one patient — conservative: a split never puts
  two files of an unidentified source on both sides.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".gif", ".mpeg", ".m4v", ".mpg"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
FOLDERS = {"data/pocus_videos": "video", "data/pocus_images": "image"}
LABELS = {
    "covid-19": "covid",
    "covid": "covid",
    "bacterial pneumonia": "pneumonia",
    "pneumonia": "pneumonia",
    "regular": "regular",
    "healthy": "regular",
    "normal": "regular",
    "viral pneumonia": "viral",
}
NO_ID = frozenset({"", "nd", "n/a", "na", "none", "-", "?", "unknown"})
COLUMNS = {
    "filename": "Filename",
    "label": "Label",
    "license": "License",
    "patient": "Patient ID / Name",
    "source": "Source ID",
}


@dataclass(frozen=True)
class SourceFile:
    """One upstream file with what the metadata says of it.

    path: repository path. kind: ``video`` or ``image``. probe: ``convex``/``linear``
    (its folder). label: ``covid``/``pneumonia``/``regular``/``viral``/``other``.
    licence: as stated (``""`` when absent). patient_id: see the module docstring.
    source_id: the metadata's source id. metadata_label: the label as written.
    """

    path: str
    kind: str
    probe: str
    label: str
    licence: str
    patient_id: str
    source_id: str
    metadata_label: str

    @property
    def stem(self) -> str:
        """The file name without folder and extension."""
        return PurePosixPath(self.path).stem


@dataclass(frozen=True)
class SelectionRule:
    """What ``lus`` keeps. classes: class names kept; probes: probe folders kept;
    noncommercial: keep files whose licence is non-commercial (NC)."""

    classes: tuple[str, ...] = ("covid", "pneumonia", "regular")
    probes: tuple[str, ...] = ("convex",)
    noncommercial: bool = False


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select`: kept files, and every excluded path with its reason."""

    kept: tuple[SourceFile, ...]
    excluded: tuple[tuple[str, str], ...]

    def reasons(self) -> Counter:
        """How many files each exclusion reason removed."""
        return Counter(reason for _, reason in self.excluded)


def is_noncommercial(licence: str) -> bool:
    """True for licences such as ``CC BY-NC 4.0`` or ``CC BY-NC-SA`` (the NC clause)."""
    return bool(re.search(r"(?<![a-z])nc(?![a-z])|non-?commercial", licence.lower()))


def read_metadata(text: str) -> dict[str, dict[str, str]]:
    """Rows of ``dataset_metadata.csv`` by lower-cased file name (first row wins).

    Raises:
        ValueError: a needed column is missing (the message names it).
    """
    reader = csv.DictReader(io.StringIO(text))
    header = {_norm(h): h for h in reader.fieldnames or () if h}
    missing = [name for name in COLUMNS.values() if _norm(name) not in header]
    if missing:
        raise ValueError(f"dataset_metadata.csv lacks the column(s) {missing}")
    rows: dict[str, dict[str, str]] = {}
    for raw in reader:
        row = {key: (raw.get(header[_norm(col)]) or "").strip() for key, col in COLUMNS.items()}
        if row["filename"]:
            rows.setdefault(row["filename"].lower(), row)
    return rows


def source_files(paths: Iterable[str], metadata: dict[str, dict[str, str]]) -> list[SourceFile]:
    """Every video/image file of the listing joined with its metadata row (may lack one).

    A file without a row gets ``label="other"`` and the licence ``"?"``; :func:`select`
    excludes it.
    """
    files = []
    for path in sorted(paths):
        parsed = _parse_path(path)
        if parsed is None:
            continue
        kind, probe = parsed
        row = metadata.get(PurePosixPath(path).stem.lower())
        if row is None:
            files.append(SourceFile(path, kind, probe, "other", "?", "", "", ""))
            continue
        label = LABELS.get(row["label"].lower(), "other")
        files.append(
            SourceFile(
                path=path,
                kind=kind,
                probe=probe,
                label=label,
                licence=row["license"],
                patient_id=_patient(row),
                source_id=row["source"],
                metadata_label=row["label"],
            )
        )
    return files


def select(files: Sequence[SourceFile], rule: SelectionRule) -> Selection:
    """Apply ``rule``; the first failing criterion is the recorded reason."""
    kept, excluded = [], []
    for f in files:
        reason = _exclusion(f, rule)
        if reason is None:
            kept.append(f)
        else:
            excluded.append((f.path, reason))
    return Selection(tuple(kept), tuple(excluded))


def _exclusion(f: SourceFile, rule: SelectionRule) -> str | None:
    if f.licence == "?":
        return "no metadata row"
    if f.probe not in rule.probes:
        return f"probe {f.probe}"
    if f.label not in rule.classes:
        return f"class {f.label}"
    if is_noncommercial(f.licence) and not rule.noncommercial:
        return "non-commercial licence"
    return None


def _parse_path(path: str) -> tuple[str, str] | None:
    p = PurePosixPath(path)
    if len(p.parts) != 4:
        return None
    kind = FOLDERS.get("/".join(p.parts[:2]).lower())
    suffixes = VIDEO_SUFFIXES if kind == "video" else IMAGE_SUFFIXES
    if kind is None or p.suffix.lower() not in suffixes:
        return None
    return kind, p.parts[2].lower()


def _patient(row: dict[str, str]) -> str:
    value = row["patient"]
    if value.lower() not in NO_ID:
        return value
    return f"source-{row['source']}" if row["source"] else f"file-{row['filename']}"


def _norm(name: str) -> str:
    return " ".join(name.lower().split())
