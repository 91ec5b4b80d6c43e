"""The download centre in a real browser (Playwright with Debian's Chromium)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ferry.services import jobs, requests
from tests.conftest import Outbox
from tests.delivery.conftest import ready_request
from tests.e2e import test_portal_browser as e2e
from tests.e2e.test_portal_browser import Portal, _only_local, _page

browser = e2e.browser  # the browser and served-portal fixtures of the portal tests
portal = e2e.portal

pytestmark = pytest.mark.browser


def test_sign_in_see_and_download(
    browser: object,
    portal: Portal,
    outbox: Outbox,
    tmp_path: Path,
) -> None:
    email = portal.emails[0]
    rid = ready_request(email, kind="access")
    jobs.shutdown(wait=True)
    page = _page(browser, portal, accept_downloads=True)
    page.goto(f"{portal.base}/p/acme/downloads")
    page.fill("#email", email)
    page.click("button[type=submit]")
    assert page.get_by_role("heading", level=1).inner_text() == "Enter your code"
    page.fill("#code", outbox.last_code(email))
    page.click("button[type=submit]")
    assert page.get_by_role("heading", level=1).inner_text() == "Your downloads"
    assert rid[:8] in page.content() and email not in page.content()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / "mine.zip"
    info.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == requests.show(rid).package.sha256
    page.get_by_role("link", name="Sharing with partners").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Sharing with partners"
    _only_local(portal)
