"""Link check of a written site: every ``src`` and ``href`` of every page must resolve to
a file inside the site (no server, no internet: an absolute URL is an error too), and a
``#fragment`` must name an element ``id`` of the page it points to."""

from __future__ import annotations

from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.references.append(value)
            elif name == "id" and value:
                self.ids.add(value)


@cache
def _parse(page: Path) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(page.read_text(encoding="utf-8"))
    return parsed


def references(page: Path) -> list[str]:
    """Every ``src``/``href`` value on the HTML page ``page``."""
    return list(_parse(page).references)


def broken_links(root: Path) -> list[str]:
    """``page: reference`` for each reference under ``root`` that does not resolve to a file
    under ``root`` or whose ``#fragment`` is no ``id`` of its target page (``data:`` URLs,
    such as the empty favicon, are fine)."""
    _parse.cache_clear()  # pages may have been rewritten since the last check
    root = root.resolve()
    broken = []
    for page in sorted(root.rglob("*.html")):
        for ref in _parse(page).references:
            if not _resolves(root, page, ref):
                broken.append(f"{page.relative_to(root)}: {ref}")
    return broken


def _resolves(root: Path, page: Path, ref: str) -> bool:
    parts = urlsplit(ref)
    if parts.scheme == "data":
        return True
    if parts.scheme or parts.netloc:
        return False
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
    if not (root in target.parents and target.is_file()):
        return False
    if parts.fragment and target.suffix == ".html":
        return unquote(parts.fragment) in _parse(target).ids
    return True
