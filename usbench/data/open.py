"""Open a dataset by the name a user types: ``folder:PATH`` or a registered name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from usbench.plugins import resolve

if TYPE_CHECKING:
    from usbench.data.imageset import ImageSet


def open_dataset(
    name: str,
    *,
    image_size: int,
    root: Path | None = None,
    options: Mapping[str, str] | None = None,
) -> ImageSet:
    """Load the dataset ``name`` as an :class:`ImageSet` (``N×1×S×S`` float32 in [0, 1]).

    ``name`` is a dataset selector (:mod:`usbench.selectors`): ``folder:PATH`` loads the
    local folder ``PATH``; ``NAME:key=value,...`` looks ``NAME`` up in the
    ``usbench.datasets`` registry and configures it with the selector's settings plus
    ``options`` (``--data-option``); ``root`` is ``--data-root``.

    Raises:
        usbench.registry.UnknownPluginError: an unregistered name (lists the known ones).
        usbench.config.ConfigError: an unknown setting or a bad value (lists the valid ones).
    """
    spec = resolve("datasets", name, overrides=options, positional=True)
    return spec.build().load(image_size=image_size, root=None if root is None else Path(root))
