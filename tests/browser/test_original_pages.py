"""The original client's pages (our imitation, tests/originalfixture.py) in a real browser,
beside chatd's own pages, from one server with original_client_dir set."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Person
from tests.originalfixture import make_original
from tests.serverproc import ServerProcess


@pytest.fixture
def original_server(tmp_path):
    original = make_original(tmp_path / "original")
    proc = ServerProcess(tmp_path, None, "--original-client", "true", "--original-client-dir", str(original))
    yield proc.start()
    proc.stop()


def test_the_original_login_page_renders_its_includes_and_assets(browser, original_server):
    from playwright.sync_api import expect

    ann = Person(browser, original_server.base_url)
    page = ann.page
    page.goto(original_server.base_url + "/")
    expect(page).to_have_url(re.compile(r"/user/login\.shtml$"))
    expect(page.locator("#title")).to_have_text("Imitation sign-in")
    expect(page.locator("#foot #badge")).to_have_text("included twice deep")  # a part's part
    # The head part's script and stylesheet came from the original's asset/ folder.
    expect(page.locator("#title")).to_have_attribute("data-util", "loaded")
    expect(page.locator("body")).to_have_css("background-color", "rgb(1, 2, 3)")
    assert ann.errors == []

    # chatd's own pages still work from the same server (their files under /chatd-asset/).
    ann.register("13800000042", "Ann")
    expect(page.locator("body")).not_to_have_css("background-color", "rgb(1, 2, 3)")
    assert ann.errors == []
    ann.context.close()
