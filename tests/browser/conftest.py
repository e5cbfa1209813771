"""Browser tests: Debian's Chromium driven by Playwright against the real server process.

They run in their own pytest process (`pytest tests/browser -p no:tornado`): sync Playwright
cannot share a process with pytest-tornado's event loops."""

from __future__ import annotations

import shutil

import pytest

from tests.serverproc import ServerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's background services try the network, which this machine kind refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path).start()
    yield proc
    proc.stop()


class Person:
    """One browser window (its own cookies and storage) and the console errors it saw."""

    def __init__(self, browser, base_url: str, width: int = 1100, height: int = 700) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.base_url = base_url
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser, server):
    made: list[Person] = []

    def make(**size: int) -> Person:
        person = Person(browser, server.base_url, **size)
        made.append(person)
        return person

    yield make
    for person in made:
        person.close()
