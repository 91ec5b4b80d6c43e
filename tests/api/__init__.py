"""REST API tests. ``Api`` wraps a TestClient on a seeded demo (tenant ``acme``, 100 customers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ferry.db import unit_of_work
from ferry.services import audit
from ferry.services.demo import DemoSetup
from ferry.store.tables import (
    AuditEvent,
    Package,
    Request,
    RequestIdentity,
    Tenant,
    VerificationCode,
)
from tests.conftest import Outbox

V1 = "/api/v1"
Response = Any  # httpx or httpx2, whichever the TestClient runs on


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def assert_error(resp: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is ``status`` with a JSON ``{"code", "message"}`` body (and ``code``)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    if code is not None:
        assert body["code"] == code, body
    return body


def wrong(code: str) -> str:
    """A six-digit code that is certainly not ``code``."""
    return f"{(int(code) + 1) % 10**6:06d}"


@dataclass(frozen=True)
class Snapshot:
    """Row counts of everything a request writes, and the tenant's audit head."""

    requests: int
    identities: int
    codes: int
    packages: int
    events: int
    audit_seq: int


@dataclass
class Api:
    client: TestClient
    demo: DemoSetup
    outbox: Outbox

    @property
    def key(self) -> dict[str, str]:
        return bearer(self.demo.api_key)

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.demo.admin_key)

    def submit(
        self,
        *identities: tuple[str, str],
        kind: str = "access",
        slug: str = "acme",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        body = {"kind": kind, "identities": [{"type": t, "value": v} for t, v in identities]}
        return self.client.post(
            f"{V1}/tenants/{slug}/requests", json={**body, **extra}, headers=headers or {}
        )

    def new_request(self, email: str | None = None) -> str:
        resp = self.submit(("email", email or self.demo.sample_emails[0]))
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def verify(self, request_id: str, code: str) -> Response:
        return self.client.post(f"{V1}/requests/{request_id}/verify", json={"code": code})

    def sign_in(self, request_id: str, email: str) -> str:
        """Verify with the code last mailed to ``email``; returns the subject access token."""
        resp = self.verify(request_id, self.outbox.last_code(email))
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    def attest(self, request_id: str, headers: dict[str, str] | None = None) -> Response:
        return self.client.post(
            f"{V1}/requests/{request_id}/attest",
            json={"agent": "Dana", "note": "called the person back on the number on file"},
            headers=self.key if headers is None else headers,
        )

    def run(self, request_id: str, headers: dict[str, str] | None = None) -> Response:
        return self.client.post(
            f"{V1}/requests/{request_id}/run",
            params={"wait": "true"},
            headers=self.key if headers is None else headers,
        )

    def show(self, request_id: str) -> dict[str, Any]:
        resp = self.client.get(f"{V1}/requests/{request_id}", headers=self.key)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def ready_request(self, email: str | None = None) -> tuple[str, str]:
        """A request whose package is ready; returns (id, the person's access token)."""
        email = email or self.demo.sample_emails[0]
        rid = self.new_request(email)
        token = self.sign_in(rid, email)
        resp = self.run(rid)
        assert resp.status_code == 200, resp.text
        assert resp.json()["state"] == "ready", resp.json()
        return rid, token

    def link(self, request_id: str, headers: dict[str, str]) -> Response:
        return self.client.post(f"{V1}/requests/{request_id}/download-link", headers=headers)


def snapshot(slug: str = "acme") -> Snapshot:
    with unit_of_work() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()

        def count(table: Any, *where: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)

        return Snapshot(
            requests=count(Request, Request.tenant_id == tenant.id),
            identities=count(RequestIdentity),
            codes=count(VerificationCode),
            packages=count(Package),
            events=count(AuditEvent, AuditEvent.tenant_id == tenant.id),
            audit_seq=tenant.audit_seq,
        )


def assert_untouched(before: Snapshot, slug: str = "acme") -> None:
    """Nothing was written (no half request, no audit event) and the audit chain is intact."""
    assert snapshot(slug) == before
    report = audit.verify_tenant(slug)
    assert report.ok, report.problem


def all_audit_events() -> list[AuditEvent]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
