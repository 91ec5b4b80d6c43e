"""Outbound calls to addresses from outside: names resolved and checked at send time, pinned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ferry.delivery import outbound
from tests.delivery.peers import serve_app


def answering(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["93.184.216.34", "192.168.1.10"],  # one internal answer among public ones is enough
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        ["0.0.0.0"],
        ["127.0.0.1"],
        ["100.64.0.1"],  # shared address space (carrier-grade NAT)
        ["2002:a00:5::1"],  # 6to4 wrapping 10.0.0.5
        ["224.0.0.1"],
    ],
)
def test_names_that_resolve_inside_are_refused(addresses: list[str]) -> None:
    resolve = answering({"cb.example.com": addresses})
    with pytest.raises(outbound.UnsafeDestination, match="internal address"):
        outbound.checked_address("cb.example.com", 443, False, resolve)


def test_public_names_pass_and_loopback_only_when_allowed() -> None:
    resolve = answering({"cb.example.com": ["93.184.216.34"], "me.test": ["127.0.0.1"]})
    assert outbound.checked_address("cb.example.com", 443, False, resolve) == "93.184.216.34"
    assert outbound.checked_address("me.test", 80, True, resolve) == "127.0.0.1"
    with pytest.raises(outbound.UnsafeDestination, match="does not resolve"):
        outbound.checked_address("nowhere.example", 443, False, resolve)
    with pytest.raises(outbound.UnsafeDestination, match="internal"):
        outbound.checked_address("[::1]", 443, False, resolve)


def test_the_connection_goes_to_the_checked_address_with_the_name_kept() -> None:
    seen: list[dict[str, Any]] = []

    async def cb(request: Request) -> JSONResponse:
        seen.append({"host": request.headers["host"], "body": await request.body()})
        return JSONResponse({}, status_code=202)

    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    with serve_app(Starlette(routes=[Route("/cb", cb, methods=["POST"])])) as base:
        port = base.rsplit(":", 1)[1]
        url = f"http://controller.test:{port}/cb"
        answer = outbound.post(url, b"{}", {"X-A": "1"}, 5.0, True, resolve)
    assert answer.status_code == 202
    assert calls == ["controller.test"]  # resolved once, by us
    assert seen == [{"host": f"controller.test:{port}", "body": b"{}"}]


def test_non_http_urls_are_refused() -> None:
    with pytest.raises(outbound.UnsafeDestination):
        outbound.post("file:///etc/passwd", b"", {}, 1.0)


def test_redirects_are_not_followed() -> None:
    hits: list[str] = []

    async def cb(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(status_code=302, headers={"Location": "http://169.254.169.254/latest"})

    resolve = answering({"controller.test": ["127.0.0.1"]})
    with serve_app(Starlette(routes=[Route("/cb", cb, methods=["POST"])])) as base:
        port = base.rsplit(":", 1)[1]
        answer = outbound.post(f"http://controller.test:{port}/cb", b"{}", {}, 5.0, True, resolve)
    assert answer.status_code == 302 and hits == ["/cb"]  # answered as is, never followed
