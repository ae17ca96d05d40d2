"""A reader takes a 10-image study in headless Chromium (Debian's ``chromium``, driven by
Playwright): clicks and keys, closes the page midway, resumes, finishes; the database
holds exactly the answers given."""

from __future__ import annotations

import os
import shutil

import pytest
from _study_fixtures import new_study, study_store
from _study_server import live_server
from PIL import Image

from usbench.study.database import StudyDatabase
from usbench.study.tokens import new_token
from usbench.study.webapp import build_app


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = os.environ.get("USBENCH_CHROMIUM") or shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no chromium executable found: install Debian's chromium (`.ci/run` does: "
        "apt-get install chromium chromium-driver) or set USBENCH_CHROMIUM"
    )


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=args)
        yield browser
        browser.close()


def _current_image(page) -> str:
    return page.get_attribute("#image", "src").rsplit("/", 1)[-1]


def _wait_for_count(page, done: int, total: int = 10) -> None:
    page.wait_for_function(
        "text => document.getElementById('count').textContent === text",
        arg=f"{done} of {total} answered",
        timeout=15000,
    )
    page.wait_for_function("() => document.getElementById('image').complete", timeout=15000)


def test_reader_takes_the_study_resumes_and_finishes(tmp_path, browser):
    store = study_store(tmp_path / "store", generators=("ddpm",))
    created = new_study(store, "browser", per_run=5, n_real=5)
    db = StudyDatabase(created.paths.database)
    token = new_token()
    reader = db.add_reader("dr-a", token, None, seed=4)
    given = []  # (image id, answer, confidence, comment) in the order given
    with live_server(build_app(created.paths)) as base:
        page = browser.new_page()
        page.goto(f"{base}/r/{token}")
        _wait_for_count(page, 0)
        assert page.inner_text("#who") == "Reader: dr-a"
        size = page.evaluate(
            "() => { const i = document.getElementById('image');"
            " return [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]; }"
        )
        assert size == [32, 32, 32, 32]  # shown at native resolution
        # 1: mouse only
        given.append((_current_image(page), "real", 3, ""))
        page.click("#real")
        page.click("button[data-confidence='3']")
        page.click("#submit")
        _wait_for_count(page, 1)
        # 2: keys only
        given.append((_current_image(page), "synthetic", 5, ""))
        page.keyboard.press("s")
        page.keyboard.press("5")
        page.keyboard.press("Enter")
        _wait_for_count(page, 2)
        # 3: keys, a comment (typing in it is not a shortcut), then the button
        given.append((_current_image(page), "real", 2, "rib shadows look fine"))
        page.keyboard.press("r")
        page.keyboard.press("2")
        page.fill("#comment", "rib shadows look fine")
        page.click("#submit")
        _wait_for_count(page, 3)
        # Enter without a confidence does nothing
        page.keyboard.press("s")
        page.keyboard.press("Enter")
        page.keyboard.press("1")
        given.append((_current_image(page), "synthetic", 1, ""))
        page.keyboard.press("Enter")
        _wait_for_count(page, 4)
        page.screenshot(path=str(tmp_path / "midway.png"))
        page.close()  # the reader stops here

        page = browser.new_page()
        page.goto(f"{base}/r/{token}")
        _wait_for_count(page, 4)  # resumes where they stopped
        assert _current_image(page) == reader.image_ids[4]
        for i in range(4, 10):
            answer = "real" if i % 2 else "synthetic"
            given.append((_current_image(page), answer, 1 + i % 5, ""))
            page.keyboard.press(answer[0])
            page.keyboard.press(str(1 + i % 5))
            page.keyboard.press("Enter")
            _wait_for_count(page, i + 1)
        assert page.is_visible("#finished") and not page.is_visible("#task")
        assert page.inner_text("#error") == ""
        page.close()
    stored = [(a.image_id, a.answer, a.confidence, a.comment) for a in db.all_answers()]
    assert stored == given
    assert [g[0] for g in given] == list(reader.image_ids)  # in the reader's own order
    with Image.open(tmp_path / "midway.png") as shot:
        assert shot.width > 300 and shot.height > 300


def test_two_alternative_trials_with_arrow_keys(tmp_path, browser):
    store = study_store(tmp_path / "store", generators=("ddpm",))
    created = new_study(store, "pairs", per_run=4, mode="2afc")
    db = StudyDatabase(created.paths.database)
    token = new_token()
    reader = db.add_reader("dr-b", token, None, seed=0)
    given = []
    with live_server(build_app(created.paths)) as base:
        page = browser.new_page()
        page.goto(f"{base}/r/{token}")
        _wait_for_count(page, 0, total=4)
        assert page.inner_text("#title") == "Which image is synthetic?"
        assert page.is_visible("#left") and page.is_visible("#right")
        assert not page.is_visible("#image") and not page.is_visible("#real")
        for i in range(4):
            page.wait_for_function(
                "() => ['left', 'right'].every(id => document.getElementById(id).complete"
                " && document.getElementById(id).naturalWidth === 32)"
            )
            side = ("left", "right")[i % 2]
            given.append((reader.image_ids[i], side, 2 + i))
            page.keyboard.press("r")  # the single-image shortcut does nothing here
            page.keyboard.press("ArrowLeft" if side == "left" else "ArrowRight")
            page.keyboard.press(str(2 + i))
            page.keyboard.press("Enter")
            _wait_for_count(page, i + 1, total=4)
        assert page.is_visible("#finished") and page.inner_text("#error") == ""
        page.close()
    assert [(a.image_id, a.answer, a.confidence) for a in db.all_answers()] == given
