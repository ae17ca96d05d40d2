"""Open a dataset by the name a user types: ``folder:PATH`` or a registered name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from usbench.registry import registry

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

    ``folder:PATH`` loads the local folder ``PATH`` (``root`` must then be ``None``);
    any other name is looked up in the ``usbench.datasets`` registry and loaded with
    ``root`` (``--data-root``) and ``options`` (dataset-specific ``key=value``).

    Raises:
        usbench.registry.UnknownPluginError: an unregistered name (lists the known ones).
        ValueError: ``folder:`` with no path, or both ``folder:PATH`` and ``root``.
    """
    options = dict(options or {})
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX) :]
        if not path:
            raise ValueError("'folder:' needs a path, e.g. --dataset folder:/data/my_images")
        if root is not None:
            raise ValueError(
                f"give the folder once: --dataset {name} already names it, drop --data-root"
            )
        source_cls = registry("datasets").get("folder")
        return source_cls().load(image_size=image_size, root=Path(path), options=options)
    source_cls = registry("datasets").get(name)
    return source_cls().load(
        image_size=image_size, root=Path(root) if root is not None else None, options=options
    )
