"""Screenshot of the leaderboard page of the static site, built from the committed
``leaderboards/`` (their ``leaderboard.csv`` files and figures; the stores behind them are
not in the repository), in headless system Chromium driven by Playwright.

    python bench/site_screenshot.py                     # -> docs/leaderboard.png
    python bench/site_screenshot.py --chromium /usr/bin/chromium --out shot.png
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from usbench.site import write_site_from_leaderboards

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "leaderboard.png")
    parser.add_argument("--width", type=int, default=1500)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        folders = [REPO / "leaderboards", REPO / "leaderboards" / "lus"]
        write_site_from_leaderboards(folders, site)
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            page.goto((site / "index.html").as_uri())
            page.locator("section.board").first.locator("th[data-sort] button").nth(3).click()
            png = Path(tmp) / "shot.png"
            page.screenshot(
                path=str(png), clip={"x": 0, "y": 0, "width": args.width, "height": 900}
            )
            browser.close()
        image = Image.open(png).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image.save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
