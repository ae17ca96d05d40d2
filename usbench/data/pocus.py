"""``lus-mini``: 105 CC-BY frames of the public POCUS lung ultrasound data (Born et al. 2021).

105 frames, 256×256 8-bit grayscale, classes ``covid`` (40), ``pneumonia`` (25) and
``regular`` (40), 8 patients; attribution for every frame is in the shipped manifest.
Source: github.com/jannisborn/covid19_ultrasound at commit :data:`UPSTREAM_COMMIT`
(J. Born et al., Applied Sciences 11(2):672, 2021, doi:10.3390/app11020672).

What ships inside the package (``usbench/data/``):

* ``lus_manifest.csv`` — one row per processed frame: relative ``file``, ``label``,
  ``patient_id``, ``probe``, ``source_file``, ``frame_index`` (empty for stills), the
  ``sha256`` of the processed PNG and the licence/attribution columns.
* ``lus_sources.csv`` — one row per upstream file with its git blob SHA-1 (``git_blob``).

Where the frames come from, first match wins:

1. ``root`` (``--data-root DIR``): an existing copy in the processed layout
   (``DIR/covid/*.png``...). Every frame is checked against the shipped sha256; any
   missing or different file is refused (nothing in the user's folder is deleted).
2. The cache ``$USBENCH_CACHE/datasets/lus-mini`` (default ``~/.cache/usbench/datasets/lus-mini``),
   re-verified on every load; a cached frame with the wrong digest is deleted and fetched
   again.
3. A mirror of the processed layout (option ``mirror=URL`` or ``$USBENCH_LUS_MIRROR``;
   ``https://``, ``http://`` or ``file://``): each frame is downloaded and must match its
   shipped sha256.
4. Otherwise the upstream source files at the pinned commit (option ``upstream=URL`` to
   point elsewhere): each must match its git blob SHA-1, then the documented
   preprocessing is reproduced — still images as they are, video frames at the
   manifest's ``frame_index`` (decoded with OpenCV, extra ``video``); Pillow ``L``
   (BT.601) grayscale; shorter side → 256 with Lanczos; centre crop 256×256. A
   reproduced frame whose bytes differ from the reference sha256 (another codec or
   Pillow build) is kept, its digest recorded in ``reproduced.json`` in the cache, and
   a warning says so: scores then carry a different dataset content hash.

A frame fails to download → :class:`DatasetUnavailable` at once, naming the three ways
to provide the data. Images are then loaded with :mod:`usbench.data.imageio` at the
requested ``image_size``.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from PIL import Image

from usbench import paths
from usbench.data.download import (
    ChecksumError,
    DownloadError,
    download_verified,
    file_digest,
    join_url,
)
from usbench.data.folder import FileTable, build_imageset
from usbench.data.imageio import DEFAULT_RESIZE, RESIZE_MODES, center_crop
from usbench.data.imageset import ImageSet
from usbench.errors import UsbenchError
from usbench.fileio import atomic_write_bytes, atomic_write_text
from usbench.protocols import DatasetSource

UPSTREAM_REPO = "jannisborn/covid19_ultrasound"
UPSTREAM_COMMIT = "657ce595e37fb549c681235565b38b347806af00"
UPSTREAM_BASE = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}"
MIRROR_ENV = paths.LUS_MIRROR_ENV
CACHE_ENV = paths.CACHE_ENV
PROCESSED_SIZE = 256
MANIFEST_RESOURCE = "lus_manifest.csv"
SOURCES_RESOURCE = "lus_sources.csv"
REPRODUCED_NAME = "reproduced.json"


@dataclass(frozen=True)
class POCUSConfig:
    """Settings of ``lus-mini``.

    resize: how a frame becomes a square: center-crop+lanczos, center-crop+bilinear or
        none (frames already square).
    mirror: base URL of a processed copy of the frames; None: ``$USBENCH_LUS_MIRROR``.
    upstream: base URL of the upstream files (the pinned commit of the POCUS repository).
    """

    resize: Literal[RESIZE_MODES] = DEFAULT_RESIZE
    mirror: str | None = None
    upstream: str = UPSTREAM_BASE


class DatasetUnavailable(UsbenchError, RuntimeError):
    """The data is neither given, cached nor downloadable; the message says how to get it."""


class DatasetIntegrityError(ValueError):
    """A local copy is incomplete or differs from the pinned checksums."""


@dataclass(frozen=True)
class LUSFrame:
    """One processed frame of the shipped manifest.

    file: path relative to the dataset root (``covid/x.png``). frame_index: ``None``
    for a still image. sha256: digest of the reference PNG.
    """

    file: str
    label: str
    patient_id: str
    probe: str
    source_file: str
    frame_index: int | None
    sha256: str


@dataclass(frozen=True)
class LUSSource:
    """One upstream file: repository path, git blob SHA-1 and how many frames it gives."""

    source_file: str
    git_blob: str
    n_images: int


def _read_resource(name: str) -> list[dict[str, str]]:
    text = resources.files("usbench.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def shipped_frames() -> list[LUSFrame]:
    """The 105 frames of the shipped manifest, in manifest order."""
    return [
        LUSFrame(
            file=r["file"],
            label=r["label"],
            patient_id=r["patient_id"],
            probe=r["probe"],
            source_file=r["source_file"],
            frame_index=int(r["frame_index"]) if r["frame_index"] else None,
            sha256=r["sha256"],
        )
        for r in _read_resource(MANIFEST_RESOURCE)
    ]


def shipped_sources() -> dict[str, LUSSource]:
    """Upstream files by repository path, from the shipped ``lus_sources.csv``."""
    return {
        r["source_file"]: LUSSource(r["source_file"], r["git_blob"], int(r["n_images"]))
        for r in _read_resource(SOURCES_RESOURCE)
    }


def default_cache_dir() -> Path:
    """``$USBENCH_CACHE/datasets/lus-mini`` (see :func:`usbench.paths.dataset_dir`)."""
    return paths.dataset_dir("lus-mini")


class POCUSLung(DatasetSource):
    """The ``lus-mini`` dataset; see the module docstring for where frames come from.

    ``load(image_size=64)`` → ImageSet ``lus-mini`` of 105 images ``105×1×64×64`` float32 in
    [0, 1], classes ``("covid", "pneumonia", "regular")``, 8 patient ids, probes.
    Settings: :class:`POCUSConfig`.
    """

    name: ClassVar[str] = "lus-mini"
    Config: ClassVar[type] = POCUSConfig
    description: ClassVar[str] = (
        "POCUS lung ultrasound, CC-BY subset: 105 frames, covid/pneumonia/regular, 8 patients."
    )

    def load(self, *, image_size: int, root: Path | None = None) -> ImageSet:
        """Verify or fetch the frames, then load them at ``image_size``."""
        cfg = self.config
        frames = shipped_frames()
        if root is not None:
            verify_copy(Path(root).expanduser(), frames)
            data_dir = Path(root).expanduser()
        else:
            data_dir = default_cache_dir()
            mirror = cfg.mirror or paths.lus_mirror()
            ensure_cached(data_dir, frames, mirror=mirror, upstream=cfg.upstream)
        table = FileTable(
            files=tuple(f.file for f in frames),
            labels=tuple(f.label for f in frames),
            patient_ids=tuple(f.patient_id for f in frames),
            probes=tuple(f.probe for f in frames),
        )
        return build_imageset(
            table, data_dir, image_size=image_size, resize=cfg.resize, name=self.name
        )


def verify_copy(root: Path, frames: Sequence[LUSFrame]) -> None:
    """Check that ``root`` holds every frame with its shipped sha256.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        DatasetIntegrityError: frames missing or different (the message lists some).
    """
    if not root.is_dir():
        raise FileNotFoundError(
            f"--data-root {root} does not exist; give the folder that holds "
            "covid/, pneumonia/ and regular/"
        )
    missing = [f.file for f in frames if not (root / f.file).is_file()]
    changed = [
        f.file for f in frames if f.file not in missing and file_digest(root / f.file) != f.sha256
    ]
    if missing or changed:
        raise DatasetIntegrityError(
            f"{root} is not the pinned lus-mini copy: {len(missing)} frame(s) missing "
            f"{missing[:3]}, {len(changed)} with a different sha256 {changed[:3]}. Restore "
            "the original files, or drop --data-root to download a verified copy."
        )


def ensure_cached(
    cache: Path, frames: Sequence[LUSFrame], *, mirror: str | None, upstream: str
) -> None:
    """Make ``cache`` hold every frame, verified; fetch what is missing (see module doc)."""
    expected = {f.file: f.sha256 for f in frames} | _reproduced_digests(cache)
    missing = [f for f in frames if not _cached_ok(cache / f.file, expected[f.file])]
    if missing:
        try:
            if mirror:
                fetch_from_mirror(mirror, cache, missing)
            else:
                fetch_from_upstream(upstream, cache, missing, shipped_sources())
        except DownloadError as err:
            raise DatasetUnavailable(_unavailable_message(cache, err)) from err
    _write_local_manifest(cache, frames)


def _cached_ok(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    if file_digest(path) == sha256:
        return True
    warnings.warn(
        f"{path} does not match its checksum; deleting it and fetching it again", stacklevel=3
    )
    path.unlink()
    return False


def fetch_from_mirror(base: str, cache: Path, frames: Sequence[LUSFrame]) -> None:
    """Download processed frames from ``base``/<file>, each verified by its sha256.

    Raises :class:`~usbench.data.download.DownloadError` on the first failure and
    :class:`~usbench.data.download.ChecksumError` for a tampered frame (deleted).
    """
    for frame in frames:
        download_verified(join_url(base, frame.file), cache / frame.file, expected=frame.sha256)


def fetch_from_upstream(
    base: str, cache: Path, frames: Sequence[LUSFrame], sources: Mapping[str, LUSSource]
) -> None:
    """Download each needed upstream file (git blob SHA-1 checked) and reproduce frames."""
    by_source: dict[str, list[LUSFrame]] = {}
    for frame in frames:
        by_source.setdefault(frame.source_file, []).append(frame)
    reproduced = _reproduced_digests(cache)
    differing = 0
    for source_file, wanted in by_source.items():
        local = upstream_file(base, cache, sources[source_file])
        for frame in wanted:
            png = encode_png(preprocess(read_source_frame(local, frame.frame_index)))
            atomic_write_bytes(cache / frame.file, png)
            digest = file_digest(cache / frame.file)
            reproduced.pop(frame.file, None)
            if digest != frame.sha256:
                reproduced[frame.file] = digest
                differing += 1
    atomic_write_text(cache / REPRODUCED_NAME, json.dumps(reproduced, indent=1, sort_keys=True))
    if differing:
        warnings.warn(
            f"{differing} lus-mini frame(s) reproduced from the upstream files differ "
            "bitwise from the reference copy (codec/resampler build); their digests are in "
            f"{cache / REPRODUCED_NAME}. Results carry a different dataset content hash.",
            stacklevel=3,
        )


def upstream_file(base: str, cache: Path, source: LUSSource) -> Path:
    """``cache/upstream/<source_file>``, downloaded from ``base`` unless already verified."""
    local = cache / "upstream" / source.source_file
    if local.is_file() and file_digest(local, "git-blob-sha1") == source.git_blob:
        return local
    url = join_url(base, source.source_file)
    return download_verified(url, local, expected=source.git_blob, kind="git-blob-sha1")


def _reproduced_digests(cache: Path) -> dict[str, str]:
    path = cache / REPRODUCED_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def read_source_frame(path: Path, frame_index: int | None) -> np.ndarray:
    """An upstream still (``frame_index=None``) or video frame as ``H×W`` uint8 luma.

    Grayscale is Pillow's ``L`` conversion (ITU-R BT.601); alpha is dropped.
    """
    if frame_index is None:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB").convert("L"))
    rgb = read_video_frame(path, frame_index)
    return np.asarray(Image.fromarray(rgb).convert("L"))


def read_video_frame(path: Path, frame_index: int) -> np.ndarray:
    """Frame ``frame_index`` (0-based, decoded sequentially) of a video, ``H×W×3`` uint8 RGB."""
    try:
        import cv2
    except ImportError as err:
        raise DatasetUnavailable(
            "decoding the upstream videos needs OpenCV: pip install 'usbench[video]' "
            f"(or provide the processed frames through --data-root or ${MIRROR_ENV})"
        ) from err
    capture = cv2.VideoCapture(str(path))
    try:
        for _ in range(frame_index + 1):
            ok, bgr = capture.read()
            if not ok:
                raise ChecksumError(f"{path} has fewer than {frame_index + 1} frames")
    finally:
        capture.release()
    return np.ascontiguousarray(bgr[..., ::-1])


def preprocess(gray: np.ndarray, size: int = PROCESSED_SIZE) -> np.ndarray:
    """Shorter side → ``size`` (Lanczos, 8-bit), then centre crop: ``size×size`` uint8."""
    h, w = gray.shape
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    resized = Image.fromarray(gray).resize((new_w, new_h), resample=Image.Resampling.LANCZOS)
    return np.ascontiguousarray(center_crop(np.asarray(resized)))


def encode_png(gray: np.ndarray) -> bytes:
    """8-bit grayscale PNG bytes of an ``H×W`` uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_local_manifest(cache: Path, frames: Sequence[LUSFrame]) -> None:
    lines = ["file,label,patient_id,probe"]
    lines += [f"{f.file},{f.label},{f.patient_id},{f.probe}" for f in frames]
    path = cache / "manifest.csv"
    text = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)


def _unavailable_message(cache: Path, err: Exception) -> str:
    return (
        f"The lus-mini dataset is not in {cache} and could not be downloaded ({err}). Provide it "
        "in one of these ways: (1) --data-root DIR with a processed copy (DIR/covid, "
        "DIR/pneumonia, DIR/regular, 256×256 PNGs as listed in usbench/data/"
        f"{MANIFEST_RESOURCE}); (2) {MIRROR_ENV}=URL (or the lus-mini dataset option mirror=URL) "
        "pointing at such a copy, file:// works; (3) copy the source files of "
        f"{SOURCES_RESOURCE} from https://github.com/{UPSTREAM_REPO}/tree/{UPSTREAM_COMMIT} "
        f"into {cache / 'upstream'} keeping their data/... paths, then load again."
    )
