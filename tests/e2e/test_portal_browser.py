"""The self-service portal in a real browser: Playwright driving Debian's Chromium."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import uvicorn

from ferry.app import create_app
from ferry.services import collection, demo, packages
from ferry.settings import reset_settings
from tests.conftest import Outbox, missing

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path("/tmp")


@dataclass
class Portal:
    base: str
    emails: list[str]
    requested: list[str] = field(default_factory=list)

    @property
    def form_url(self) -> str:
        return f"{self.base}/p/{demo.SLUG}/"


@pytest.fixture
def portal(ferry_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    """The demo tenant seeded and the whole app served by uvicorn on a free local port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("FERRY_PUBLIC_URL", base)
    reset_settings()
    setup = demo.seed(customers=120)
    config = uvicorn.Config(create_app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_healthy(base)
        yield Portal(base, setup.sample_emails)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the server at {base} did not answer /api/v1/health")


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        missing("Chromium", "apt-get install chromium")
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            launched = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            missing("Chromium", f"apt-get install chromium (launch failed: {exc.message[:200]})")
        yield launched
        launched.close()


def _page(browser: object, portal: Portal, **context: object):  # type: ignore[no-untyped-def]
    """A fresh page whose every request is recorded on ``portal.requested``."""
    ctx = browser.new_context(**context)  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.on("request", lambda req: portal.requested.append(req.url))
    return page


def _only_local(portal: Portal) -> None:
    assert portal.requested, "the browser made no requests at all"
    outside = [
        u for u in portal.requested if urlparse(u).scheme != "data" and not _is_local(u, portal)
    ]
    assert not outside, f"the portal loaded external resources: {outside}"


def _is_local(url: str, portal: Portal) -> bool:
    return urlparse(url).hostname == "127.0.0.1" and url.startswith(portal.base + "/")


def test_submit_verify_collect_download(
    browser: object, portal: Portal, outbox: Outbox, tmp_path: Path
) -> None:
    email = portal.emails[0]
    page = _page(browser, portal, accept_downloads=True)

    response = page.goto(portal.form_url)
    assert response is not None and response.status == 200
    assert page.get_by_role("heading", level=1).inner_text().startswith("Ask Acme Retail Ltd")
    page.get_by_label("Your email address").fill(email)
    page.get_by_role("radio", name="A copy of all my data").check()
    page.screenshot(path=str(SHOTS / "portal-form.png"), full_page=True)
    page.get_by_role("button", name="Send request").click()

    page.wait_for_url(re.compile(r"/p/acme/r/[0-9a-f-]+/verify$"))
    request_id = page.url.rsplit("/", 2)[-2]
    assert page.get_by_role("heading", level=1).inner_text() == "Confirm it is you"

    page.get_by_label("Code").fill("000000" if outbox.last_code(email) != "000000" else "111111")
    page.get_by_role("button", name="Confirm").click()
    alert = page.get_by_role("alert")
    assert re.search(r"not right; \d+ tries left", alert.inner_text()), alert.inner_text()
    page.screenshot(path=str(SHOTS / "portal-verify-error.png"), full_page=True)

    page.get_by_label("Code").fill(outbox.last_code(email))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{portal.base}/p/acme/r/{request_id}")
    assert page.locator("#state").inner_text() == "verified"
    assert page.locator("#download").count() == 0

    collection.run(request_id, "test")
    page.reload()
    assert page.locator("#state").inner_text() == "ready"
    button = page.get_by_role("button", name="Download your data")
    assert button.is_visible()
    page.screenshot(path=str(SHOTS / "portal-status-download.png"), full_page=True)

    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.failure() is None
    saved = tmp_path / "my-data.zip"
    download.save_as(saved)
    assert download.suggested_filename.endswith(".zip")

    with zipfile.ZipFile(saved) as zf:
        customers = json.loads(zf.read("data/shop/customers.json"))
    assert customers["dataset"] == "customers"
    assert len(customers["rows"]) == 1, customers["rows"]
    assert customers["rows"][0]["email"].lower() == email.lower()
    assert packages.verify_file(saved).ok
    _only_local(portal)


def test_bad_email_rerenders_form_with_values(browser: object, portal: Portal) -> None:
    page = _page(browser, portal)
    page.goto(portal.form_url)
    # The browser's own check would stop "not-an-email"; this one passes it but not Ferry's.
    page.get_by_label("Your email address").fill("someone@localhost")
    page.get_by_label("Customer number").fill("C-42")
    page.get_by_role("radio", name="My settings and activity").check()
    page.get_by_label("Where do you live?").select_option(label="United Kingdom")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Send request").click()
    assert posted.value.status == 400
    alert = page.get_by_role("alert").inner_text()
    assert "'someone@localhost' is not an email address" in alert
    assert "Correct it below" in alert
    assert page.get_by_label("Your email address").input_value() == "someone@localhost"
    assert page.get_by_label("Customer number").input_value() == "C-42"
    assert page.get_by_role("radio", name="My settings and activity").is_checked()
    assert not page.get_by_role("radio", name="A copy of all my data").is_checked()
    assert page.get_by_label("Where do you live?").input_value() == "GB"
    page.screenshot(path=str(SHOTS / "portal-form-error.png"), full_page=True)
    _only_local(portal)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/p/no-such-company/", "could not find this page"),
        ("/p/acme/r/00000000-0000-0000-0000-000000000000", "could not find this request"),
        ("/p/acme/nothing-here", "no page at this address"),
    ],
)
def test_not_found_is_an_error_page(browser: object, portal: Portal, path: str, says: str) -> None:
    page = _page(browser, portal)
    response = page.goto(portal.base + path)
    assert response is not None and response.status == 404
    assert "text/html" in (response.header_value("content-type") or "")
    assert page.get_by_role("heading", level=1).inner_text() == "We could not do that"
    alert = page.get_by_role("alert").inner_text()
    assert says in alert
    assert "ferry " not in alert, "an operator's hint shown to a data subject"
    if path.startswith("/p/no-such"):
        page.screenshot(path=str(SHOTS / "portal-unknown-tenant.png"), full_page=True)
    _only_local(portal)


def test_api_errors_stay_json(portal: Portal) -> None:
    answer = httpx.get(f"{portal.base}/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_phone_viewport_has_no_horizontal_scroll(browser: object, portal: Portal) -> None:
    page = _page(browser, portal, viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(portal.form_url)
    assert page.get_by_label("Your email address").is_visible()
    overflow = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], overflow
    page.screenshot(path=str(SHOTS / "portal-phone.png"), full_page=True)
    _only_local(portal)
