"""The studio in real headless Chromium (Debian's ``chromium``, driven by Playwright), against `veokit serve`
on loopback with the emulator behind it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.conftest import BEFORE_GEMINI_SHUTDOWN as BEFORE_GEMINI_SHUTDOWN

# Playwright's 5 s default for every `expect` is a speed test on a loaded 2-core machine (jobs run in other
# threads, Chromium competes for the cores); 30 s keeps it a hang detector.
expect.set_options(timeout=30_000)

CHROMIUM = os.environ.get("VEOKIT_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


# Module scope, never session: while Playwright's sync API is started, its event loop counts as running in the
# main thread, and every asyncio test collected after the browser tests would fail to start its own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: scripts/test.sh installs Debian's chromium package")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"the page raised: {errors}"
