"""The readable report (data/index.html) in a real browser: self-contained, fits a phone,
prints. Uses Debian's Chromium like the portal test."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ferry.domain.models import DatasetRows
from ferry.export.package import PackageMeta, write_package
from tests.e2e.test_portal_browser import browser  # noqa: F401  (the shared fixture)

META = PackageMeta(
    tenant="Acme", request_id="r-1", created=datetime(2024, 5, 1, tzinfo=UTC), formats=("html",)
)


@pytest.fixture
def report(tmp_path: Path) -> Iterator[Path]:
    wide = {f"field_{i}": f"value number {i} " * 3 for i in range(12)}
    data = [
        DatasetRows("shop", "orders", {"field_0": "user.behavior"}, [wide] * 30),
        DatasetRows("desk", "tickets", {"body": "user.content"}, [{"body": "x" * 5000}]),
    ]
    path = tmp_path / "p.zip"
    write_package(path, data, META)
    with zipfile.ZipFile(path) as zf:
        zf.extract("data/index.html", tmp_path)
    yield tmp_path / "data" / "index.html"


def test_report_fits_a_phone_loads_nothing_and_prints(browser: object, report: Path) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 375, "height": 740})  # type: ignore[attr-defined]
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(report.as_uri())
    assert requested == [report.as_uri()]  # self-contained: nothing else is fetched
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # no sideways scrolling on a phone: tables become cards
    label = page.evaluate("getComputedStyle(document.querySelector('td'), '::before').content")
    assert label == '"body"'  # each cell says which field it holds
    assert page.locator("nav a").count() >= 4  # contents: systems and datasets
    page.click("text=tickets (Things you wrote or sent): 1 record")
    assert page.evaluate("location.hash") == "#dataset-1"
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).breakAfter") == "page"
    assert page.pdf().startswith(b"%PDF")
    context.close()
