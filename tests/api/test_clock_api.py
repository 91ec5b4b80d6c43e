"""Deadlines, extensions, pauses and rejections through the REST API, legal and illegal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.domain.clock import utcnow
from ferry.domain.models import Identity
from ferry.services import requests, tenants


@pytest.fixture
def api(ferry_env_any: Path) -> TestClient:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    tenants.create_tenant("globex", "Globex", ["US-CA"])
    with TestClient(create_app()) as client:
        yield client


def key(slug: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenants.create_api_key(slug, 'ops')}"}


def submit(
    monkeypatch: pytest.MonkeyPatch,
    slug: str,
    code: str,
    when: datetime | None = None,
    email: bool = True,
) -> str:
    monkeypatch.setattr("ferry.services.requests.utcnow", lambda: when or utcnow())
    ident = (
        Identity.parse("email", "ana@example.org")
        if email
        else Identity.parse("customer_id", "C-1")
    )
    return requests.submit(slug, "access", [ident], jurisdiction=code).id


def test_deadlines_endpoint(api: TestClient) -> None:
    got = api.get(
        "/api/v1/deadlines",
        params={
            "jurisdiction": "US-CA",
            "received": "2026-01-30T23:30",
            "tz": "America/Los_Angeles",
        },
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["due"], body["extended_due"], body["acknowledge_by"]) == (
        "2026-03-16",
        "2026-04-30",
        "2026-02-13",
    )
    assert "1798.130" in body["rule"]
    qc = api.get("/api/v1/deadlines", params={"jurisdiction": "CA-QC", "received": "2026-06-01"})
    assert qc.json()["extended_due"] is None and qc.json()["acknowledge_by"] is None
    for params in [
        {"jurisdiction": "XX", "received": "2026-01-01"},
        {"jurisdiction": "GB", "received": "31/01/2026"},
        {"jurisdiction": "GB", "received": "2026-01-01", "tz": "Nowhere/At_All"},
        {"jurisdiction": "GB", "received": "2" * 41},
        {"jurisdiction": "GB"},
    ]:
        bad = api.get("/api/v1/deadlines", params=params)
        assert bad.status_code == 422, params
        assert "code" in bad.json()


def test_pause_resume_extend_reject_through_the_api(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = key("acme")
    rid = submit(monkeypatch, "acme", "EU-DE")
    base = f"/api/v1/requests/{rid}"
    assert api.post(f"{base}/pause", json={"reason": "identity"}).status_code == 401
    paused = api.post(f"{base}/pause", json={"reason": "identity", "note": "ID card"}, headers=auth)
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused"
    resumed = api.post(f"{base}/resume", headers=auth)
    assert resumed.status_code == 200 and resumed.json()["paused_days"] == 0
    assert api.post(f"{base}/resume", headers=auth).json()["code"] == "not_paused"
    no_reason = api.post(f"{base}/extend", json={"reason": ""}, headers=auth)
    assert no_reason.status_code == 422
    too_long = api.post(
        f"{base}/extend", json={"reason": "very many systems", "until": "2099-01-01"}, headers=auth
    )
    assert too_long.status_code == 422 and too_long.json()["code"] == "extension_too_long"
    ok = api.post(f"{base}/extend", json={"reason": "very many systems"}, headers=auth)
    assert ok.status_code == 200 and ok.json()["extended"]
    again = api.post(f"{base}/extend", json={"reason": "very many systems"}, headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "already_extended"
    shown = api.get(f"{base}/clock", headers=auth).json()
    assert shown["extended_until"] == ok.json()["due"] and shown["days_left"] > 30
    rejected = api.post(
        f"{base}/reject",
        json={"reason": "identical request sent 40 times", "ground": "unfounded"},
        headers=auth,
    )
    assert rejected.status_code == 200 and "supervisory authority" in rejected.json()["notice"]
    events = api.get(base, headers=auth).json()["events"]
    actions = [e["action"] for e in events]
    for action in ("request.paused", "request.extended", "request.rejected", "notice.sent"):
        assert action in actions


def test_illegal_clock_moves_are_refused(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    acme, globex = key("acme"), key("globex")
    old = submit(monkeypatch, "acme", "EU-DE", datetime(2020, 1, 6, 9))
    late = api.post(
        f"/api/v1/requests/{old}/extend", json={"reason": "very many systems"}, headers=acme
    )
    assert late.status_code == 409 and late.json()["code"] == "extension_too_late"
    silent = submit(monkeypatch, "acme", "EU-DE", email=False)
    no_notice = api.post(
        f"/api/v1/requests/{silent}/extend", json={"reason": "very many systems"}, headers=acme
    )
    assert no_notice.status_code == 422
    assert no_notice.json()["code"] == "extension_notice_required"
    ccpa = submit(monkeypatch, "globex", "US-CA")
    refused = api.post(
        f"/api/v1/requests/{ccpa}/pause", json={"reason": "identity"}, headers=globex
    )
    assert refused.status_code == 409 and refused.json()["code"] == "pause_not_allowed"
    # another tenant's key does not see the request at all
    other = api.post(f"/api/v1/requests/{ccpa}/pause", json={"reason": "identity"}, headers=acme)
    assert other.status_code == 404
    for body in [{"reason": "holiday"}, {"reason": "identity", "extra": 1}, {}]:
        assert (
            api.post(f"/api/v1/requests/{silent}/pause", json=body, headers=acme).status_code == 422
        )
    broken = api.post(
        f"/api/v1/requests/{silent}/reject",
        content=b"{not json",
        headers={**acme, "content-type": "application/json"},
    )
    assert broken.status_code in (400, 422)
    assert (
        api.post(
            f"/api/v1/requests/{silent}/reject", json={"reason": "short"}, headers=acme
        ).status_code
        == 422
    )


def test_sla_settings_due_list_and_tick(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    acme = key("acme")
    put = api.put(
        "/api/v1/tenants/acme/sla",
        json={"timezone": "Europe/Berlin", "internal_days": 20},
        headers=acme,
    )
    assert put.status_code == 200 and put.json()["timezone"] == "Europe/Berlin"
    assert api.put("/api/v1/tenants/globex/sla", json={}, headers=acme).status_code == 403
    assert (
        api.put(
            "/api/v1/tenants/acme/sla", json={"timezone": "Atlantis/Capital"}, headers=acme
        ).status_code
        == 422
    )
    old = submit(monkeypatch, "acme", "EU-DE", datetime(2020, 1, 6, 9))
    due = api.get("/api/v1/tenants/acme/due", params={"within": 7}, headers=acme)
    assert [r["id"] for r in due.json()] == [old]
    assert api.post("/api/v1/sla/tick", headers=acme).status_code == 403
    ticked = api.post("/api/v1/sla/tick", headers=key(None))
    assert ticked.status_code == 200 and ticked.json()["overdue"] == 1
    assert api.post("/api/v1/sla/tick", headers=key(None)).json()["overdue"] == 0
