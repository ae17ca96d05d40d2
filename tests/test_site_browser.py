"""The static site in a real browser: headless system Chromium (Debian ``chromium``)
driven by Playwright, on a site rendered from a store of three cheap runs (two seeds of a
smoke DDPM, and its samples scored again as an external run)."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from usbench.cli import main
from usbench.site.links import broken_links
from usbench.store import ResultStore

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -e '.[browser]'"
)
METRICS = "ssim,psnr,lpips:net=vgg"  # the VGG LPIPS: not headline, no weights here: n/a


def chromium() -> str:
    """The system Chromium (``$USBENCH_CHROMIUM``, else ``chromium`` on the PATH)."""
    found = os.environ.get("USBENCH_CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no chromium on this machine: apt-get install chromium (see .ci/run)")
    return found


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def store(tiny_folder, tmp_path_factory) -> ResultStore:
    root = tmp_path_factory.mktemp("site-store")
    data = ["--dataset", f"folder:{tiny_folder}", "--image-size", "16", "--metrics", METRICS]
    common = [*data, "--preset", "smoke", "--n-samples", "4", "--no-progress", "--store", str(root)]
    _invoke(["run", "-g", "ddpm", "--seed", "0", "--set", "train.lr=0.002", *common])
    _invoke(["run", "-g", "ddpm", "--seed", "1", "--set", "train.lr=0.002", *common])
    store = ResultStore(root)
    first = Path(store.runs()[0]["run_dir"])
    _invoke(["score", "--samples", str(first / "samples"), "--name", "mine", *data,
             "--store", str(root)])  # fmt: skip
    return store


@pytest.fixture(scope="module")
def site(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    _invoke(["report", "--format", "html", "--out", str(out), "--store", str(store.root)])
    assert not (out / "leaderboard.md").exists()  # html alone: the site, not the tables
    return out


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as play:
        launched = play.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


class _Page:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, browser, **options) -> None:
        self.page = browser.new_page(**options)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: Path):
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def broken_images(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "img", "els => els.filter(e => !e.complete || e.naturalWidth === 0).map(e => e.src)"
        )


def _column(page, board, label: str) -> list[str]:
    """The data-value of each visible row's cell in the column whose header is ``label``."""
    heads = [t.strip() for t in board.locator("thead th").all_inner_texts()]
    index = next(i for i, t in enumerate(heads) if t.startswith(label))
    return board.locator("tbody tr").evaluate_all(
        f"rows => rows.map(r => r.children[{index}].getAttribute('data-value'))"
    )


def test_every_src_and_href_resolves(site, store):
    assert broken_links(site) == []
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert pages == {"index.html", "compare.html"} | {
        f"runs/{r['run_id']}.html" for r in store.runs()
    }


def test_sorting_reorders_rows_both_ways_by_mouse_and_keyboard(site, browser):
    tab = _Page(browser)
    page = tab.open(site / "index.html")
    board = page.locator("section.board").first
    head = board.locator("th[data-sort]", has_text="psnr")
    head.locator("button").click()
    assert head.get_attribute("aria-sort") == "descending"  # psnr ↑: best first
    values = [float(v) for v in _column(page, board, "psnr")]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1
    head.locator("button").focus()
    page.keyboard.press("Enter")
    assert head.get_attribute("aria-sort") == "ascending"
    assert [float(v) for v in _column(page, board, "psnr")] == sorted(values)
    board.locator("th[data-sort]", has_text="generator").locator("button").click()
    names = _column(page, board, "generator")
    assert names == sorted(names) and "external:mine" in names
    assert tab.errors == []


def test_filters_and_column_picker(site, browser):
    tab = _Page(browser)
    page = tab.open(site / "index.html")
    board = page.locator("section.board").first
    rows = board.locator("tbody tr")
    assert rows.count() == 2  # ddpm (two seeds in one row) and external:mine
    page.select_option("select[data-filter='generator']", "external:mine")
    assert [r.is_visible() for r in rows.all()].count(True) == 1
    assert board.locator("tbody tr:visible .badge.external").count() == 1
    page.select_option("select[data-filter='generator']", "")
    extra = board.locator("th[data-pick='lpips:net=vgg']")
    assert not extra.is_visible()  # not in the headline suite: picked on demand
    page.check("input[data-col-toggle='lpips:net=vgg']")
    assert extra.is_visible()  # unavailable without its weights: n/a with the reason
    cell = board.locator("tbody tr[data-generator='ddpm'] td[data-pick='lpips:net=vgg'] span")
    assert cell.first.inner_text() == "n/a" and "usbench weights" in cell.first.get_attribute(
        "title"
    )
    published = page.locator("tr[data-kind='published']")
    assert published.count() > 0 and page.locator("tr[data-kind='published'] td.best").count() == 0
    page.uncheck("input[data-kind-toggle='published']")
    assert all(not r.is_visible() for r in published.all())
    assert tab.errors == []


def test_run_link_opens_its_page_with_images_and_reproduce_command(site, browser, store):
    tab = _Page(browser)
    page = tab.open(site / "index.html")
    page.locator("section.board").first.locator("tbody th a", has_text="ddpm").first.click()
    page.wait_for_load_state("load")
    assert "/runs/" in page.url and page.locator("h1").inner_text().startswith("ddpm")
    run = next(r for r in store.runs() if page.url.endswith(f"{r['run_id']}.html"))
    assert page.locator("#samples img").count() == 4 + 8  # 4 samples, 8 real training images
    assert tab.broken_images() == []
    metrics = page.locator("#metrics tbody th").all_inner_texts()
    assert metrics == sorted(["lpips:net=vgg", "psnr", "ssim"])
    command = page.locator("#provenance pre.command").first.inner_text()
    assert "--set train.lr=0.002" in command and f"--seed {run['seed']}" in command
    assert tab.errors == []


def test_comparison_page_and_figures_load(site, browser):
    tab = _Page(browser)
    page = tab.open(site / "compare.html")
    assert page.locator("table.strip tbody tr").count() == 3
    assert page.locator("table.agreement tbody tr").count() == 1  # ssim vs psnr, 3 runs
    assert tab.broken_images() == []
    tab.open(site / "index.html")
    assert tab.broken_images() == [] and tab.page.locator("#figures img").count() >= 2
    assert tab.errors == []


def test_readable_without_javascript(site, browser):
    tab = _Page(browser, java_script_enabled=False)
    page = tab.open(site / "index.html")
    assert not page.locator("#controls").is_visible()  # controls need the script
    board = page.locator("section.board").first
    assert board.locator("th[data-pick='lpips:net=vgg']").is_visible()
    assert board.locator("tbody tr:visible").count() == 2


def test_the_reproduce_command_reproduces_the_run(store, tmp_path):
    from safetensors.torch import load_file

    from usbench.site.reproduce import reproduce_command

    run = next(r for r in store.runs() if r["generator"] == "ddpm" and r["seed"] == 1)
    args = shlex.split(reproduce_command(run))
    assert args[:2] == ["usbench", "run"]
    _invoke([*args[1:], "--no-progress", "--store", str(tmp_path)])
    (again,) = ResultStore(tmp_path).runs()
    assert again["config_hash"] == run["config_hash"] and again["data_hash"] == run["data_hash"]
    first = load_file(str(Path(run["run_dir"]) / "samples.safetensors"))["images"]
    second = load_file(str(Path(again["run_dir"]) / "samples.safetensors"))["images"]
    assert (first == second).all()


def test_real_images_are_the_training_split_of_the_run(site, store, tiny_folder):
    import numpy as np
    from PIL import Image

    from usbench.data.open import open_dataset
    from usbench.harness import split_by_patient
    from usbench.images import to_uint8
    from usbench.site.real_images import RealImages

    run = next(r for r in store.runs() if r["generator"] == "ddpm" and r["seed"] == 1)
    data = open_dataset(f"folder:{tiny_folder}", image_size=16)
    train, _test, split = split_by_patient(data, test_fraction=0.2, seed=1)
    assert split == run["split"]
    shown = sorted((site / "runs" / run["run_id"] / "real").glob("*.png"))
    assert len(shown) == len(train) == 8
    for path, image in zip(shown, train.images, strict=True):
        assert np.array_equal(np.asarray(Image.open(path)), to_uint8(image))
    moved = {**run, "data_hash": "0" * 64}  # the data here is not what the run used
    images, note = RealImages().of(moved, 4)
    assert images == [] and "content hash mismatch" in note
