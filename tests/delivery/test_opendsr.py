"""OpenDSR with a controller simulator that verifies every callback's signature."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ferry.app import create_app
from ferry.crypto import processor_cert
from ferry.intake.opendsr import email_sha256
from ferry.services import collection, delivery, opendsr_callbacks, requests, tenants
from ferry.settings import reset_settings
from tests.delivery.peers import serve_app


@dataclass
class Controller:
    """Receives callbacks; checks X-OpenDSR-Signature over the raw body with the processor's
    certificate (fetched from discovery), answers 202, or 403 on a bad signature."""

    certificate: bytes = b""
    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    bad: list[bytes] = field(default_factory=list)
    hits: int = 0

    async def callback(self, request: Request) -> JSONResponse:
        self.hits += 1
        if self.fail_first > 0:
            self.fail_first -= 1
            return JSONResponse({"error": "down"}, status_code=500)
        raw = await request.body()
        sig = request.headers.get("x-opendsr-signature", "")
        if not processor_cert.verify(self.certificate, raw, sig):
            self.bad.append(raw)
            return JSONResponse({"error": "bad signature"}, status_code=403)
        assert request.headers["x-opendsr-processor-domain"] == "testserver"
        self.received.append(json.loads(raw))
        return JSONResponse({}, status_code=202)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/cb", self.callback, methods=["POST"])])


@pytest.fixture
def api(shop: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    monkeypatch.setenv("FERRY_ALLOW_LOOPBACK_CALLBACKS", "1")
    reset_settings()
    key = tenants.create_api_key("acme", "controller")
    with TestClient(create_app()) as client:
        yield client, {"Authorization": f"Bearer {key}"}
    opendsr_callbacks.drain()


@pytest.fixture
def controller(api) -> Iterator[tuple[Controller, str]]:
    client, _ = api
    found = client.get("/opendsr/v1/discovery").json()
    ctl = Controller()
    ctl.certificate = client.get(
        found["processor_certificate"].replace("http://testserver", "")
    ).content
    with serve_app(ctl.app()) as base:
        yield ctl, f"{base}/cb"


def body(email: str, callbacks: list[str], kind: str = "access", **extra: Any) -> dict[str, Any]:
    return {
        "subject_request_id": str(uuid.uuid4()),
        "subject_request_type": kind,
        "submitted_time": "2026-11-29T10:00:00Z",
        "api_version": "3.0",
        "subject_identities": [
            {"identity_type": "email", "identity_value": email, "identity_format": "raw"}
        ],
        "status_callback_urls": callbacks,
        **extra,
    }


def test_discovery(api) -> None:
    client, _ = api
    found = client.get("/opendsr/v1/discovery").json()
    assert found["supported_subject_request_types"] == ["access", "portability"]
    assert {"identity_type": "email", "identity_format": "sha256"} in found["supported_identities"]
    assert b"BEGIN CERTIFICATE" in client.get("/opendsr/v1/processor.crt").content


def test_create_status_and_signed_callbacks(api, controller, shop: str) -> None:
    client, auth = api
    ctl, url = controller
    sent = body(shop, [url], kind="portability")
    made = client.post("/opendsr/v1/requests", json=sent, headers=auth)
    assert made.status_code == 201, made.text
    assert processor_cert.verify(ctl.certificate, made.content, made.headers["x-opendsr-signature"])
    answer = made.json()
    assert (
        json.loads(base64.b64decode(answer["encoded_request"]))["subject_request_id"]
        == sent["subject_request_id"]
    )
    sid = sent["subject_request_id"]
    status = client.get(f"/opendsr/v1/requests/{sid}", headers=auth)
    assert status.json()["request_status"] == "pending"
    assert processor_cert.verify(
        ctl.certificate, status.content, status.headers["x-opendsr-signature"]
    )
    rid = requests.list_requests("acme")[0].id
    assert collection.run(rid, "agent").state == "ready"
    opendsr_callbacks.drain()
    assert [c["request_status"] for c in ctl.received] == ["in_progress", "completed"]
    assert all(
        c["subject_request_id"] == sid and c["status_callback_url"] == url for c in ctl.received
    )
    assert ctl.bad == []
    # the same subject_request_id again: the original answer, not a second request
    again = client.post("/opendsr/v1/opengdpr_requests", json=sent, headers=auth)
    assert again.status_code == 200 and len(requests.list_requests("acme")) == 1
    assert (
        client.get(f"/opendsr/v1/opengdpr_requests/{sid}", headers=auth).json()["request_status"]
        == "completed"
    )


def test_callback_500_is_retried_and_sent_once(api, controller, shop: str) -> None:
    client, auth = api
    ctl, url = controller
    ctl.fail_first = 2
    sent = body(shop, [url])
    assert client.post("/opendsr/v1/requests", json=sent, headers=auth).status_code == 201
    rid = requests.list_requests("acme")[0].id
    collection.run(rid, "agent")
    opendsr_callbacks.drain()
    assert [c["request_status"] for c in ctl.received] == ["in_progress", "completed"]
    assert ctl.hits == 4
    actions = [e["action"] for e in requests.show(rid).events]
    assert actions.count("opendsr.callback_retrying") == 2
    assert actions.count("opendsr.callback_sent") == 2
    rows = delivery.list_for(rid)
    assert [r.state for r in rows] == ["delivered", "delivered"]


def test_callback_endpoint_down_ends_failed(api, shop: str) -> None:
    client, auth = api
    sent = body(shop, ["http://127.0.0.1:9/cb"])
    assert client.post("/opendsr/v1/requests", json=sent, headers=auth).status_code == 201
    rid = requests.list_requests("acme")[0].id
    collection.run(rid, "agent")
    opendsr_callbacks.drain()
    rows = delivery.list_for(rid)
    assert rows and all(r.state == "failed" and r.attempts == 3 for r in rows)
    assert requests.show(rid).state == "ready"  # the request itself is not harmed


def test_cancel_while_pending_only(api, controller, shop: str) -> None:
    client, auth = api
    ctl, url = controller
    first = body(shop, [url])
    client.post("/opendsr/v1/requests", json=first, headers=auth)
    gone = client.delete(f"/opendsr/v1/requests/{first['subject_request_id']}", headers=auth)
    assert gone.status_code == 202
    status = client.get(f"/opendsr/v1/requests/{first['subject_request_id']}", headers=auth)
    assert status.json()["request_status"] == "cancelled"
    second = body(shop, [url])
    client.post("/opendsr/v1/requests", json=second, headers=auth)
    rid = next(r for r in requests.list_requests("acme") if r.state == "verified").id
    collection.run(rid, "agent")
    late = client.delete(f"/opendsr/v1/requests/{second['subject_request_id']}", headers=auth)
    assert late.status_code == 409 and late.json()["code"] == "not_cancellable"
    opendsr_callbacks.drain()
    assert "cancelled" in [c["request_status"] for c in ctl.received]


def test_erasure_and_bad_input_refused(api, shop: str) -> None:
    client, auth = api
    erasure = client.post("/opendsr/v1/requests", json=body(shop, [], kind="erasure"), headers=auth)
    assert erasure.status_code == 400 and "out of scope" in erasure.json()["message"]
    assert erasure.json()["error"]["code"] == 400
    assert client.post("/opendsr/v1/requests", content=b"{nope", headers=auth).status_code == 400
    md5 = body(shop, [])
    md5["subject_identities"][0]["identity_format"] = "md5"
    assert client.post("/opendsr/v1/requests", json=md5, headers=auth).status_code == 422
    plain_http = body(shop, ["http://controller.example/cb"])
    assert client.post("/opendsr/v1/requests", json=plain_http, headers=auth).status_code == 422
    hostile = body(shop, [])
    hostile["subject_request_id"] = "../../etc/passwd'; drop table"
    assert client.post("/opendsr/v1/requests", json=hostile, headers=auth).status_code == 422
    assert client.post("/opendsr/v1/requests", json=body(shop, [])).status_code == 401
    assert requests.list_requests("acme") == []
    assert client.get("/opendsr/v1/requests/nope", headers=auth).status_code == 404


def test_hashed_email_maps_to_ferry_identity(api, shop: str) -> None:
    client, auth = api
    sent = body(shop, [])
    sent["subject_identities"] = [
        {
            "identity_type": "email",
            "identity_format": "sha256",
            "identity_value": email_sha256(shop).upper(),
        }
    ]
    assert client.post("/opendsr/v1/requests", json=sent, headers=auth).status_code == 201
    [view] = requests.list_requests("acme")
    assert view.identities == [{"type": "email_sha256", "value": email_sha256(shop)}]


def test_other_tenants_request_is_absent(api, shop: str, ferry_env: Path) -> None:
    client, auth = api
    sent = body(shop, [])
    client.post("/opendsr/v1/requests", json=sent, headers=auth)
    tenants.create_tenant("globex", "Globex", ["GB"])
    other = {"Authorization": f"Bearer {tenants.create_api_key('globex', 'g')}"}
    assert (
        client.get(f"/opendsr/v1/requests/{sent['subject_request_id']}", headers=other).status_code
        == 404
    )
    assert (
        client.delete(
            f"/opendsr/v1/requests/{sent['subject_request_id']}", headers=other
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/cb",
        "https://10.0.0.5/cb",
        "https://169.254.169.254/latest",
        "https://[::1]/cb",
        "http://controller.example/cb",
        "ftp://controller.example/cb",
    ],
)
def test_callbacks_to_internal_addresses_refused(shop: str, url: str) -> None:
    key = tenants.create_api_key("acme", "controller")
    with TestClient(create_app()) as client:
        answer = client.post(
            "/opendsr/v1/requests",
            json=body(shop, [url]),
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 422, answer.text
    assert requests.list_requests("acme") == []


def test_bulk_run_sends_the_callbacks(
    api, controller, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk run reads the batch's OpenDSR links at once; each change still calls back."""
    from ferry.domain.models import Identity
    from ferry.services import bulk, verification

    client, auth = api
    ctl, url = controller
    sent = body(shop, [url], kind="portability")
    assert client.post("/opendsr/v1/requests", json=sent, headers=auth).status_code == 201
    plain = requests.submit("acme", "access", [Identity.parse("email", shop)], channel="cli")
    verification.attest(plain.id, "agent", "called back")

    def not_this_way(*args: object) -> None:
        raise AssertionError("the batched path was expected")

    monkeypatch.setattr(bulk, "_one_by_one", not_this_way)
    result = bulk.run_all("acme", "agent")
    assert len(result.completed) == 2 and result.failed == {}
    opendsr_callbacks.drain()
    assert [c["request_status"] for c in ctl.received] == ["in_progress", "completed"]
    assert {c["subject_request_id"] for c in ctl.received} == {sent["subject_request_id"]}


def test_callback_host_resolving_inside_is_refused_at_send_time(
    api, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.delivery import outbound

    client, auth = api
    sent = body(shop, ["https://cb.example.com/cb"])  # a public-looking name, accepted at intake
    assert client.post("/opendsr/v1/requests", json=sent, headers=auth).status_code == 201
    monkeypatch.setattr(outbound, "system_resolver", lambda host, port: ["10.0.0.5"])
    rid = requests.list_requests("acme")[0].id
    collection.run(rid, "agent")
    opendsr_callbacks.drain()
    rows = delivery.list_for(rid)
    assert rows and all(r.state == "failed" for r in rows)
    assert all("internal address (10.0.0.5)" in (r.error or "") for r in rows)
