"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (no `playwright install`:
the system browser through `executable_path`), one page per test at 1280x800.

Every test here that needs a browser is marked `browser`, which plain `pytest` leaves out:
`make check-browser` runs them (CI does), `make check-ui` and `make check-viz` each one file.
Without Chromium they skip, saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.support import CHROMIUM_ARGS, HEIGHT, NO_CHROMIUM, UI, WIDTH, find_chromium

# Seconds per wait in a page (a page's data, a menu opening, a graph settling).
TIMEOUT = float(os.environ.get("BROWSER_TIMEOUT", "90"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item, for fixtures that keep logs of a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(NO_CHROMIUM)
    return path


@pytest.fixture(scope="session")
def browser(chromium: str):
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def ui(browser, request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh tab at 1280x800; a failed test leaves its last view in tmp_path/failure.png."""
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1
    )
    page = context.new_page()
    try:
        yield UI(page, TIMEOUT)
        if failed(request):
            page.screenshot(path=str(tmp_path / "failure.png"))
    finally:
        context.close()
