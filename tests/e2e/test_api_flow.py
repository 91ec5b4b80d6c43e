"""One request end to end through the REST API, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.services import demo
from ferry.services.packages import verify_file
from tests.conftest import Outbox

PERSONAL_TABLES = {"customers", "orders", "order_items", "support_tickets"}


def expected_rows(db: str, email: str) -> dict[str, set[int]]:
    """The person's row ids, computed independently with plain SQL joins."""
    con = sqlite3.connect(db)
    (cid,) = con.execute("select id from customers where email = ?", (email,)).fetchone()
    orders = {r[0] for r in con.execute("select id from orders where customer_id=?", (cid,))}
    marks = ",".join("?" * len(orders))
    items = {
        r[0]
        for r in con.execute(
            f"select id from order_items where order_id in ({marks})", tuple(orders)
        )
    }
    tickets = {
        r[0] for r in con.execute("select id from support_tickets where customer_id=?", (cid,))
    }
    con.close()
    return {"customers": {cid}, "orders": orders, "order_items": items, "support_tickets": tickets}


def wait_for(client: TestClient, request_id: str, states: set[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/requests/{request_id}/status").json()["state"]
        if state in states:
            return str(state)
        time.sleep(0.05)
    raise AssertionError(f"request stuck in {state}")


def test_submit_verify_run_download(ferry_env_any: Path) -> None:
    setup = demo.seed(customers=150)
    outbox = Outbox(ferry_env_any)
    person = setup.sample_emails[1]
    auth = {"Authorization": f"Bearer {setup.api_key}"}
    with TestClient(create_app()) as client:
        created = client.post(
            "/api/v1/tenants/acme/requests",
            json={
                "kind": "access",
                "identities": [{"type": "email", "value": person}],
                "jurisdiction": "GB",
            },
        )
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        assert created.json()["state"] == "awaiting_verification"
        assert person not in created.text  # the answer does not echo personal data

        code = outbox.last_code(person)
        verified = client.post(f"/api/v1/requests/{rid}/verify", json={"code": code})
        assert verified.status_code == 200, verified.text
        assert verified.json()["state"] == "verified"
        token = verified.json()["access_token"]

        ran = client.post(f"/api/v1/requests/{rid}/run", headers=auth)
        assert ran.status_code == 202
        assert wait_for(client, rid, {"ready", "failed"}) == "ready"

        link = client.post(
            f"/api/v1/requests/{rid}/download-link", headers={"Authorization": f"Bearer {token}"}
        )
        assert link.status_code == 200, link.text
        path = link.json()["url"].removeprefix("http://testserver")
        got = client.get(path)
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/zip"

        detail = client.get(f"/api/v1/requests/{rid}", headers=auth).json()
        assert detail["state"] == "delivered"
        actions = [e["action"] for e in detail["events"]]
        assert actions[:3] == [
            "request.received",
            "request.awaiting_verification",
            "verification.code_sent",
        ]
        assert {
            "request.verified",
            "request.collecting",
            "package.created",
            "request.ready",
            "package.downloaded",
            "request.delivered",
        } <= set(actions)

    saved = ferry_env_any / "got.zip"
    saved.write_bytes(got.content)
    assert verify_file(saved).ok
    want = expected_rows(setup.database, person)
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        names = set(zf.namelist())
        assert {"bagit.txt", "manifest-sha256.txt", "data/README.txt"} <= names
        for table in PERSONAL_TABLES:
            doc = json.loads(zf.read(f"data/shop/{table}.json"))
            assert {row["id"] for row in doc["rows"]} == want[table], table
        customers = json.loads(zf.read("data/shop/customers.json"))["rows"]
        assert [c["email"] for c in customers] == [person]
        assert not any(n.startswith("data/shop/agents") for n in names)

    # the person's code email and the ready notice; neither carries their data
    notices = outbox.to(person)
    assert len(notices) == 2
    ready = notices[-1].get_payload(decode=True)
    assert isinstance(ready, bytes) and b"/p/acme/r/" + rid.encode() in ready


def test_collection_failure_is_recorded_and_retryable(ferry_env_any: Path) -> None:
    from ferry.domain.models import Identity
    from ferry.services import collection, requests, verification

    setup = demo.seed(customers=40)
    view = requests.submit("acme", "access", [Identity.parse("email", setup.sample_emails[0])])
    verification.attest(view.id, "agent-1", "called back on the number on file")
    shop = Path(setup.database)
    moved = shop.with_suffix(".moved")
    shop.rename(moved)
    failed = collection.run(view.id, "test")
    assert failed.state == "failed" and failed.failure
    moved.rename(shop)
    retried = collection.run(view.id, "test")
    assert retried.state == "ready" and retried.failure is None and retried.package


@pytest.mark.parametrize("kind", ["transfer", "device", "consent-share"])
def test_every_kind_is_accepted(ferry_env: Path, kind: str) -> None:
    setup = demo.seed(customers=20)
    with TestClient(create_app()) as client:
        r = client.post(
            "/api/v1/tenants/acme/requests",
            json={
                "kind": kind,
                "identities": [{"type": "email", "value": setup.sample_emails[0]}],
                "scope": {"categories": ["user.contact"], "since": "2024-01-01"},
            },
        )
        assert r.status_code == 201, r.text
