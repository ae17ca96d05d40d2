"""Open a dataset by the name a user types: ``folder:PATH`` or a registered name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from usbench.registry import registry
from usbench.selectors import parse_selector

if TYPE_CHECKING:
    from usbench.data.imageset import ImageSet

FOLDER_PREFIX = "folder:"


def open_dataset(
    name: str,
    *,
    image_size: int,
    root: Path | None = None,
    options: Mapping[str, str] | None = None,
) -> ImageSet:
    """Load the dataset ``name`` as an :class:`ImageSet` (``N×1×S×S`` float32 in [0, 1]).

    ``name`` is a dataset selector (:mod:`usbench.selectors`): ``folder:PATH`` loads the
    local folder ``PATH`` (``root`` must then be ``None``); ``NAME:key=value,...`` looks
    ``NAME`` up in the ``usbench.datasets`` registry and loads it with ``root``
    (``--data-root``) and the selector's settings plus ``options`` (``--data-option``).

    Raises:
        usbench.registry.UnknownPluginError: an unregistered name (lists the known ones).
        ValueError: ``folder:`` with no path, or both ``folder:PATH`` and ``root``.
    """
    selector = parse_selector(name, positional=True)
    options = {**selector.options, **dict(options or {})}
    if selector.name == "folder" or name.startswith(FOLDER_PREFIX):
        path = selector.positional
        if not path:
            raise ValueError("'folder:' needs a path, e.g. --dataset folder:/data/my_images")
        if root is not None:
            raise ValueError(
                f"give the folder once: --dataset {name} already names it, drop --data-root"
            )
        source_cls = registry("datasets").get("folder")
        return source_cls().load(image_size=image_size, root=Path(path), options=options)
    if selector.positional is not None:
        raise ValueError(
            f"dataset {selector.name!r} takes settings as key=value after ':', e.g. "
            f"{selector.name}:key=value (got {selector.positional!r})"
        )
    source_cls = registry("datasets").get(selector.name)
    return source_cls().load(
        image_size=image_size, root=Path(root) if root is not None else None, options=options
    )
