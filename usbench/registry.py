"""One typed registry per plugin kind, filled from Python entry points.

Built-in plugins and third-party plugins register the same way: an entry point in the
group ``usbench.<kind>`` (``usbench.generators``, ``usbench.metrics``,
``usbench.datasets``, ``usbench.tasks``) whose value is ``"module:attr"``::

    [project.entry-points."usbench.generators"]
    mygan = "mypkg.mygan:MyGAN"

Entry points are scanned once, when a registry is first asked, and loaded lazily, so
``usbench list generators`` imports no model code. A plugin that fails to import is named
in a warning and the others keep working.
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")

KINDS = ("generators", "metrics", "datasets", "tasks")


class UnknownPluginError(KeyError):
    """Raised for a name that no plugin of that kind registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class PluginLoadError(ImportError):
    """Raised when a registered plugin exists but cannot be imported."""


@dataclass(frozen=True)
class _Entry:
    """A registered name: either an object already loaded or a ``module:attr`` path."""

    target: str | object
    origin: str  # the distribution that registered it, or "runtime"


class Registry(Generic[T]):
    """Name → plugin class for one kind, with lazy ``module:attr`` entries.

    ``base`` is the class every plugin of this kind must subclass; it is checked when the
    entry is loaded, so a wrong entry point fails with its name rather than later.
    """

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, _Entry] = {}
        self._loaded: dict[str, T] = {}
        self._scanned = False

    # -- filling ---------------------------------------------------------------------
    def register(self, name: str, target: str | T, *, origin: str = "runtime") -> None:
        """Register ``target`` (a class or ``"module:attr"``) under ``name``.

        A second registration of the same name from a different target is refused.
        """
        self._scan()
        existing = self._entries.get(name)
        if existing is not None and existing.target != target:
            raise ValueError(
                f"{self.kind} plugin {name!r} is already registered by {existing.origin} "
                f"({existing.target!r}); choose another name."
            )
        self._entries[name] = _Entry(target, origin)
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (used by tests that register temporary plugins)."""
        self._entries.pop(name, None)
        self._loaded.pop(name, None)

    def decorator(self, name: str):
        """Class decorator form of :meth:`register`, for plugins defined at runtime."""

        def wrap(cls: T) -> T:
            self.register(name, cls)
            return cls

        return wrap

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for ep in entry_points(group=f"usbench.{self.kind}"):
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            if ep.name in self._entries and self._entries[ep.name].target != ep.value:
                warnings.warn(
                    f"{self.kind} plugin {ep.name!r} from {dist} ({ep.value}) clashes with "
                    f"{self._entries[ep.name].origin}; keeping the first.",
                    stacklevel=3,
                )
                continue
            self._entries[ep.name] = _Entry(ep.value, dist)

    # -- reading ---------------------------------------------------------------------
    def names(self) -> list[str]:
        """Sorted registered names; imports nothing."""
        self._scan()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """Which distribution registered ``name``."""
        return self._entry(name).origin

    def target(self, name: str) -> str:
        """The ``module:attr`` path of ``name`` (or the object's qualified name)."""
        target = self._entry(name).target
        if isinstance(target, str):
            return target
        return f"{target.__module__}:{getattr(target, '__qualname__', target)}"

    def __contains__(self, name: str) -> bool:
        self._scan()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _entry(self, name: str) -> _Entry:
        self._scan()
        if name not in self._entries:
            known = sorted(self._entries)
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownPluginError(
                f"No {self.kind[:-1]} called {name!r}.{hint} "
                f"Registered {self.kind}: {', '.join(known) or '(none)'}."
            )
        return self._entries[name]

    def get(self, name: str) -> T:
        """Load and return the plugin registered as ``name``."""
        if name in self._loaded:
            return self._loaded[name]
        entry = self._entry(name)
        obj = entry.target
        if isinstance(obj, str):
            obj = _load_path(obj, kind=self.kind, name=name, origin=entry.origin)
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise PluginLoadError(
                f"{self.kind} plugin {name!r} ({entry.target!r} from {entry.origin}) is not a "
                f"subclass of {self.base.__module__}.{self.base.__qualname__}."
            )
        _claim_name(obj, name, self.kind, entry)
        self._loaded[name] = obj
        return obj

    def load_all(self) -> dict[str, T]:
        """Load every plugin, warning by name about the ones that fail to import."""
        loaded: dict[str, T] = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except PluginLoadError as err:
                warnings.warn(str(err), stacklevel=2)
        return loaded


def _claim_name(obj: object, name: str, kind: str, entry: _Entry) -> None:
    """A plugin has one name, the registry's: a class without one gets it; a class that
    states another is refused (runs, saved files and scores would disagree)."""
    if not isinstance(obj, type) or not hasattr(obj, "name"):
        return
    stated = obj.__dict__.get("name", "")
    if not stated:
        obj.name = name
    elif stated != name:
        raise PluginLoadError(
            f"{kind} plugin {name!r} ({entry.target!r} from {entry.origin}) says its name is "
            f"{stated!r}; register it under {stated!r} or drop its `name` attribute (the "
            "registry gives it one). For another name with other settings, add an alias."
        )


def _load_path(path: str, *, kind: str, name: str, origin: str) -> object:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        obj = module
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
    except Exception as err:  # a broken plugin must be named, not crash the others
        raise PluginLoadError(
            f"{kind} plugin {name!r} ({path} from {origin}) failed to load: "
            f"{type(err).__name__}: {err}"
        ) from err
    return obj


_REGISTRIES: dict[str, Registry] = {}


def registry(kind: str) -> Registry:
    """The process-wide registry of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise UnknownPluginError(f"No plugin kind {kind!r}; kinds are: {', '.join(KINDS)}.")
    if kind not in _REGISTRIES:
        _REGISTRIES[kind] = Registry(kind, base=_base_class(kind))
    return _REGISTRIES[kind]


def _base_class(kind: str) -> type:
    # Imported here so that listing names never imports torch.
    from usbench import protocols

    return {
        "generators": protocols.Generator,
        "metrics": protocols.Metric,
        "datasets": protocols.DatasetSource,
        "tasks": protocols.Task,
    }[kind]
