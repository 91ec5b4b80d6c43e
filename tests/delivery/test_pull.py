"""Pull mode: the recipient fetches the package, encrypted to its age key, from a signed URL."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pyrage
import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.domain.clock import utcnow
from ferry.services import delivery, recipients, requests, tenants
from tests.delivery.conftest import ready_request
from tests.delivery.receiver import Receiver


def test_pull_link_fetch_decrypt_once(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rcv = Receiver()
    # the push endpoint is down: the agent falls back to a pull link
    recipients.add(
        "acme",
        "newco",
        "https",
        {"url": "http://127.0.0.1:9/inbox", "age_recipient": rcv.age_recipient},
        country="NL",
    )
    rid = ready_request(shop, recipient="newco")
    assert requests.show(rid).state == "ready"
    auth = {"Authorization": f"Bearer {tenants.create_api_key('acme', 'agent')}"}
    with TestClient(create_app()) as client:
        made = client.post(f"/api/v1/requests/{rid}/pull-link", headers=auth)
        assert made.status_code == 200, made.text
        path = made.json()["url"].replace("http://testserver", "")
        got = client.get(path)
        assert got.status_code == 200
        plain = pyrage.decrypt(got.content, [rcv.identity])
        sha = requests.show(rid).package.sha256
        assert hashlib.sha256(plain).hexdigest() == sha == got.headers["x-ferry-package-sha256"]
        assert client.get(path).status_code == 200  # a second fetch is allowed and audited
        shown = requests.show(rid)
        assert shown.state == "delivered"
        pulled = [e for e in shown.events if e["action"] == "transfer.pulled"]
        assert [p["data"]["first"] for p in pulled] == [True, False]
        rows = [d for d in delivery.list_for(rid) if d.state == "delivered"]
        assert len(rows) == 1
        assert client.get(path[:-3] + "abc").status_code == 403
        later = utcnow() + timedelta(days=8)
        monkeypatch.setattr("ferry.services.transfer_pull.utcnow", lambda: later)
        assert client.get(path).status_code == 410
        key = client.get("/api/v1/tenants/acme/keys/http").json()
        assert key["alg"] == "ed25519" and "BEGIN PUBLIC KEY" in key["public_key_pem"]
        assert client.get("/api/v1/tenants/nope/keys/http").status_code == 404


def test_pull_refused_outside_transfer_rules(shop: str) -> None:
    rcv = Receiver()
    recipients.add(
        "acme",
        "far",
        "https",
        {"url": "https://far.example/in", "age_recipient": rcv.age_recipient},
        country="RU",
    )
    rid = ready_request(shop, recipient="far")
    auth = {"Authorization": f"Bearer {tenants.create_api_key('acme', 'agent')}"}
    with TestClient(create_app()) as client:
        refused = client.post(f"/api/v1/requests/{rid}/pull-link", headers=auth)
    assert refused.status_code == 409 and refused.json()["code"] == "transfer_refused"


def test_deliver_and_deliveries_over_the_api(shop: str) -> None:
    rid = ready_request(shop, kind="access")
    auth = {"Authorization": f"Bearer {tenants.create_api_key('acme', 'agent')}"}
    tenants.create_tenant("globex", "Globex", ["GB"])
    other = {"Authorization": f"Bearer {tenants.create_api_key('globex', 'g')}"}
    with TestClient(create_app()) as client:
        none = client.post(f"/api/v1/requests/{rid}/deliver", headers=auth)
        assert none.status_code == 409 and none.json()["code"] == "no_recipient"
        assert client.get(f"/api/v1/requests/{rid}/deliveries", headers=auth).json() == []
        assert client.get(f"/api/v1/requests/{rid}/deliveries", headers=other).status_code == 404
        assert client.post(f"/api/v1/requests/{rid}/deliver").status_code == 401


def test_partial_adequacy_waits_for_a_supervisor(shop: str) -> None:
    """EU → US is adequate only for certified organisations: a supervisor must approve it."""
    from ferry.services import transfers

    rcv = Receiver()
    recipients.add(
        "acme",
        "usco",
        "https",
        {"url": "https://usco.example/in", "age_recipient": rcv.age_recipient},
        country="US",
    )
    rid = ready_request(shop, recipient="usco")
    auth = {"Authorization": f"Bearer {tenants.create_api_key('acme', 'agent')}"}
    with TestClient(create_app()) as client:
        held = client.post(f"/api/v1/requests/{rid}/pull-link", headers=auth)
        assert held.status_code == 409 and held.json()["code"] == "transfer_needs_supervisor"
        transfers.approve(rid, "US", "supervisor:kim", "recipient is DPF certified (checked)")
        allowed = client.post(f"/api/v1/requests/{rid}/pull-link", headers=auth)
    assert allowed.status_code == 200, allowed.text
