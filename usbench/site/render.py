"""HTML of the site: Jinja2 templates and assets shipped with the package
(``usbench/site/templates``, ``usbench/site/assets``), pages written atomically."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from usbench.fileio import atomic_write_bytes, atomic_write_text

ASSETS = ("site.css", "site.js")


def slug(text: str) -> str:
    """An id-safe form of ``text`` (dataset names in anchors)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def environment() -> Environment:
    """The template environment: autoescaping on, undefined names are errors."""
    env = Environment(
        loader=PackageLoader("usbench.site", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["slug"] = slug
    return env


class Renderer:
    """Writes pages and assets into the site root ``out``; ``source`` says where the
    numbers came from (footer of every page)."""

    def __init__(self, out: Path, source: str) -> None:
        self.out = out
        self.env = environment()
        try:
            usbench_version = version("usbench")
        except PackageNotFoundError:
            usbench_version = "unknown"
        self.common = {
            "source": source,
            "version": usbench_version,
            "written": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        }

    def page(self, template: str, href: str, **context: Any) -> Path:
        """Render ``template`` to ``out/href``; ``root`` (the way back to the site root)
        follows from the depth of ``href``."""
        root = "../" * href.count("/")
        html = self.env.get_template(template).render(root=root, **self.common, **context)
        return atomic_write_text(self.out / href, html)

    def assets(self) -> list[Path]:
        """Copy the stylesheet and script into ``out/assets``."""
        folder = resources.files("usbench.site").joinpath("assets")
        return [
            atomic_write_bytes(self.out / "assets" / name, folder.joinpath(name).read_bytes())
            for name in ASSETS
        ]
