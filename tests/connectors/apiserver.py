"""A real HTTP JSON API on 127.0.0.1 for connector tests, with switchable misbehaviour."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PEOPLE = [
    {"id": 1, "email": "ann@example.com", "name": "Ann"},
    {"id": 2, "email": "bob@example.com", "name": "Bob"},
    {"id": 3, "email": "o'hara@example.com", "name": "O'Hara"},
]
ORDERS = [{"id": 10 + i, "person_id": 1 + i % 3, "total": i * 1.5} for i in range(12)]


@dataclass
class Api:
    """State of the fake API: what it serves, how it misbehaves, what it saw."""

    api_key: str | None = None
    bearer: str | None = None
    client: tuple[str, str] | None = None
    page_size: int = 2
    fail_first: int = 0  # answer 500 to this many requests first
    throttle_first: int = 0  # answer 429 (Retry-After: 0) to this many requests first
    always_500: bool = False
    sleep: float = 0.0
    forever: bool = False  # cursor pagination that never ends
    requests: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _page(items: list[dict[str, Any]], q: dict[str, str], size: int) -> list[dict[str, Any]]:
    page = int(q.get("page", "1"))
    return items[(page - 1) * size : page * size]


class Handler(BaseHTTPRequestHandler):
    api: Api

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        api = self.api
        length = int(self.headers.get("content-length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        import base64

        auth = self.headers.get("authorization", "")
        user = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth else ""
        if self.path != "/oauth/token" or form.get("grant_type") != ["client_credentials"]:
            return self._send(400, {"error": "bad"})
        if api.client is None or user != f"{api.client[0]}:{api.client[1]}":
            return self._send(401, {"error": "invalid_client"})
        api.tokens_issued += 1
        self._send(200, {"access_token": f"tok{api.tokens_issued}", "expires_in": 3600})

    def _authorised(self) -> bool:
        api = self.api
        if api.api_key is not None:
            return self.headers.get("x-api-key") == api.api_key
        if api.bearer is not None:
            return self.headers.get("authorization") == f"Bearer {api.bearer}"
        if api.client is not None:
            return self.headers.get("authorization", "").startswith("Bearer tok")
        return True

    def do_GET(self) -> None:
        api = self.api
        api.requests.append(self.path)
        if api.sleep:
            time.sleep(api.sleep)
        if api.always_500 or api.fail_first > 0:
            api.fail_first = max(0, api.fail_first - 1)
            return self._send(500, {"error": "boom"})
        if api.throttle_first > 0:
            api.throttle_first -= 1
            return self._send(429, {"error": "slow down"}, {"retry-after": "0"})
        if not self._authorised():
            return self._send(401, {"error": "unauthorised"})
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts == []:
            return self._send(200, {"ok": True})
        if parts == ["people"]:  # page-number pagination, rows under data.items
            rows = [p for p in PEOPLE if p["email"] == q.get("email")]
            return self._send(200, {"data": {"items": _page(rows, q, api.page_size)}})
        if len(parts) == 2 and parts[0] == "people":  # one object, by id
            found = [p for p in PEOPLE if str(p["id"]) == parts[1]]
            return self._send(200, found[0]) if found else self._send(404, {"error": "none"})
        if parts == ["orders"]:  # cursor pagination
            rows = [o for o in ORDERS if str(o["person_id"]) == q.get("person_id")]
            start = int(q.get("cursor", "0"))
            chunk = rows[start : start + api.page_size]
            more = api.forever or start + api.page_size < len(rows)
            nxt = str(start + api.page_size) if more else None
            return self._send(200, {"orders": chunk, "next": nxt})
        if parts == ["orders-linked"]:  # Link header pagination, body is a list
            rows = [o for o in ORDERS if str(o["person_id"]) == q.get("person_id")]
            page = int(q.get("page", "1"))
            chunk = rows[(page - 1) * api.page_size : page * api.page_size]
            headers = {}
            if api.forever or page * api.page_size < len(rows):
                nxt = f"{api.url}/orders-linked?person_id={q.get('person_id')}&page={page + 1}"
                headers["link"] = f'<{nxt}>; rel="next"'
            return self._send(200, chunk, headers)
        if parts == ["not-json"]:
            data = b"<html>oops</html>"
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._send(404, {"error": "no route"})


@contextmanager
def serve(api: Api | None = None) -> Iterator[Api]:
    api = api or Api()
    handler = type("BoundHandler", (Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
