"""Link check of a written site: every ``src`` and ``href`` of every page must resolve to
a file inside the site (no server, no internet: an absolute URL is an error too)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def references(page: Path) -> list[str]:
    """Every ``src``/``href`` value on the HTML page ``page``."""
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.found


def broken_links(root: Path) -> list[str]:
    """``page: reference`` for each reference under ``root`` that does not resolve to a file
    under ``root`` (fragment-only references ``#x`` are in-page and always fine)."""
    root = root.resolve()
    broken = []
    for page in sorted(root.rglob("*.html")):
        for ref in references(page):
            parts = urlsplit(ref)
            if not parts.path and not parts.scheme:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            inside = target == root or root in target.parents
            if parts.scheme == "data":
                continue
            if parts.scheme or parts.netloc or not inside or not target.is_file():
                broken.append(f"{page.relative_to(root)}: {ref}")
    return broken
