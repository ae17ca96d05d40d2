"""Every folder usbench writes to and every environment variable it reads, in one place.

Other modules ask this one; none reads ``os.environ`` for a usbench setting itself.

Environment variables:

``USBENCH_CACHE``
    Root of every cache (default ``$XDG_CACHE_HOME/usbench``, else ``~/.cache/usbench``).
    Below it: ``weights/`` (pretrained networks, unless ``USBENCH_WEIGHTS_DIR`` is set),
    ``features/`` (reference Inception features), ``datasets/<name>/`` (downloaded and
    processed data sets), ``simus/`` (simulated ultrasound envelopes).
``USBENCH_CACHE_DIR``
    Deprecated spelling of ``USBENCH_CACHE``: honoured, with a :class:`DeprecationWarning`,
    only when ``USBENCH_CACHE`` is not set.
``USBENCH_WEIGHTS_DIR``
    The pretrained-weights folder (default ``$USBENCH_CACHE/weights``), e.g. a shared copy
    on a cluster.
``USBENCH_STORE``
    The results store folder used when ``--store`` is not given (default
    ``./usbench-results``).
``USBENCH_OFFLINE``
    Any of ``1/true/yes/on``: never download (weights, hub models); ``HF_HUB_OFFLINE``
    has the same effect.
``USBENCH_LUS_MIRROR``
    A mirror of the processed ``lus-mini`` data set layout, tried before the upstream files.
``USBENCH_PUBLISHED_CSV``
    A replacement for the packaged table of the seed papers' published numbers.
``USBENCH_DEBUG``
    Non-empty: the command line shows the traceback of a user error.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

CACHE_ENV = "USBENCH_CACHE"
LEGACY_CACHE_ENV = "USBENCH_CACHE_DIR"
WEIGHTS_ENV = "USBENCH_WEIGHTS_DIR"
STORE_ENV = "USBENCH_STORE"
OFFLINE_ENV = "USBENCH_OFFLINE"
HUB_OFFLINE_ENV = "HF_HUB_OFFLINE"
LUS_MIRROR_ENV = "USBENCH_LUS_MIRROR"
PUBLISHED_CSV_ENV = "USBENCH_PUBLISHED_CSV"
DEBUG_ENV = "USBENCH_DEBUG"

DEFAULT_STORE = "usbench-results"
_TRUE = ("1", "true", "yes", "on")


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to ``1/true/yes/on``."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def env_value(name: str) -> str | None:
    """The non-empty value of the environment variable ``name``, else ``None``."""
    return os.environ.get(name) or None


def cache_root() -> Path:
    """``$USBENCH_CACHE`` (or the deprecated ``$USBENCH_CACHE_DIR``), else
    ``$XDG_CACHE_HOME/usbench``, else ``~/.cache/usbench``."""
    root = env_value(CACHE_ENV)
    if root is None and env_value(LEGACY_CACHE_ENV):
        warnings.warn(
            f"${LEGACY_CACHE_ENV} is deprecated; set ${CACHE_ENV} instead (same meaning).",
            DeprecationWarning,
            stacklevel=2,
        )
        root = env_value(LEGACY_CACHE_ENV)
    if root:
        return Path(root).expanduser()
    base = env_value("XDG_CACHE_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "usbench"


def weights_dir() -> Path:
    """The pretrained-weights folder: ``$USBENCH_WEIGHTS_DIR`` or ``<cache>/weights``."""
    env = env_value(WEIGHTS_ENV)
    return Path(env).expanduser() if env else cache_root() / "weights"


def features_dir() -> Path:
    """Cached reference features: ``<cache>/features``."""
    return cache_root() / "features"


def dataset_dir(name: str) -> Path:
    """Where the data set ``name`` is downloaded and processed: ``<cache>/datasets/<name>``."""
    return cache_root() / "datasets" / name


def simus_dir() -> Path:
    """Cached simulated envelopes: ``<cache>/simus``."""
    return cache_root() / "simus"


def store_dir() -> Path:
    """The results store when ``--store`` is not given: ``$USBENCH_STORE`` or
    ``./usbench-results``."""
    return Path(env_value(STORE_ENV) or DEFAULT_STORE)


def offline() -> bool:
    """Whether downloads are disabled (``USBENCH_OFFLINE`` or ``HF_HUB_OFFLINE``)."""
    return env_flag(OFFLINE_ENV) or env_flag(HUB_OFFLINE_ENV)


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE``)."""
    return env_flag(HUB_OFFLINE_ENV)


def lus_mirror() -> str | None:
    """``$USBENCH_LUS_MIRROR``, or ``None``."""
    return env_value(LUS_MIRROR_ENV)


def published_csv_override() -> Path | None:
    """``$USBENCH_PUBLISHED_CSV`` as a path, or ``None``."""
    env = env_value(PUBLISHED_CSV_ENV)
    return Path(env).expanduser() if env else None


def debug() -> bool:
    """Whether ``USBENCH_DEBUG`` asks for tracebacks."""
    return bool(env_value(DEBUG_ENV))
