"""Shared set-up for the verification API tests: the demo shop, an alert address, helpers."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.db import unit_of_work
from ferry.services import demo, tenants
from ferry.store import tenants as tenant_store
from tests.conftest import Outbox

AGENTS = "privacy-team@acme.test"


@dataclass
class Shop:
    setup: demo.DemoSetup
    outbox: Outbox

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.setup.api_key}"}

    def key(self, name: str, role: str = "agent") -> dict[str, str]:
        return {"Authorization": f"Bearer {tenants.create_api_key('acme', name, role=role)}"}

    def person(self, n: int) -> str:
        """The email of the shop's n-th customer (those who ordered something)."""
        con = sqlite3.connect(self.setup.database)
        rows = con.execute(
            "select email from customers where id in (select customer_id from orders) order by id"
        ).fetchall()
        con.close()
        return str(rows[n][0])

    def facts(self, email: str) -> dict[str, str]:
        """The person's postcode, date of birth and newest order, read straight from the shop."""
        con = sqlite3.connect(self.setup.database)
        cid, postcode, born = con.execute(
            "select id, postcode, date_of_birth from customers where email = ?", (email,)
        ).fetchone()
        (last,) = con.execute(
            "select id from orders where customer_id = ? order by placed_at desc limit 1", (cid,)
        ).fetchone()
        con.close()
        return {"postcode": postcode, "date_of_birth": str(born), "last_order": str(last)}


def seed(var: Any, customers: int = 60) -> Shop:
    setup = demo.seed(customers=customers)
    with unit_of_work() as session:
        tenant_store.get_by_slug(session, "acme").agent_email = AGENTS
    return Shop(setup, Outbox(var))


@contextmanager
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def submit(c: TestClient, identities: dict[str, str], **extra: Any) -> str:
    body = {
        "kind": "access",
        "identities": [{"type": k, "value": v} for k, v in identities.items()],
    }
    answer = c.post("/api/v1/tenants/acme/requests", json={**body, **extra})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def link_token(outbox: Outbox, address: str) -> str:
    for msg in reversed(outbox.to(address)):
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes)
        found = re.search(r"/verify/link\?t=([A-Za-z0-9_-]+)", body.decode())
        if found:
            return found.group(1)
    raise AssertionError(f"no link mailed to {address}")
