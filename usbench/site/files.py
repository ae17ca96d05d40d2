"""Files of the site: images copied (or written) under the site root, hrefs returned."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image


class SiteFiles:
    """The site's root folder; every method returns the href of what it placed, relative
    to the root with ``/`` (pages at depth ``d`` prefix it with ``../`` × d)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def copy(self, source: Path, href: str) -> str:
        """Copy ``source`` to ``root/href``."""
        target = self.root / href
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return href

    def image(self, pixels: np.ndarray, href: str) -> str:
        """Write a uint8 grayscale ``H×W`` array as a PNG at ``root/href``."""
        target = self.root / href
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target)
        return href
