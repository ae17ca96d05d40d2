"""A self-contained static site of the benchmark: leaderboards, run pages, comparison.

``usbench report --format html --out site/`` (or :func:`write_site`) writes it; open
``site/index.html`` in any browser, or publish the folder as is (GitHub Pages, an intranet).
"""

from usbench.site.writer import write_site, write_site_from_leaderboards

__all__ = ["write_site", "write_site_from_leaderboards"]
