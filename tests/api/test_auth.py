"""Who may do what: API keys, tenant isolation, admin-only routes, the person's open routes and
their access token. Keys never leak into responses or the audit trail."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.crypto.tokens import api_key_prefix
from ferry.services import audit, tenants
from ferry.services.demo import seed
from tests.api import (
    V1,
    Api,
    all_audit_events,
    assert_error,
    assert_untouched,
    bearer,
    snapshot,
)
from tests.conftest import Outbox


@pytest.fixture
def api(ferry_env: Path, outbox: Outbox) -> Iterator[Api]:
    setup = seed(customers=100)
    with TestClient(create_app()) as client:
        yield Api(client, setup, outbox)


@pytest.fixture
def beta_key(api: Api) -> str:
    """Tenant B (``beta``), made through the API with the admin key, and one key of its own."""
    resp = api.client.post(
        f"{V1}/tenants", json={"slug": "beta", "name": "Beta GmbH"}, headers=api.admin
    )
    assert resp.status_code == 201, resp.text
    return tenants.create_api_key("beta", "beta-crm")


# Routes for client systems and agents, never for the person: (method, path, json body).
KEYED = [
    ("POST", "/tenants", {"slug": "gamma", "name": "Gamma"}),
    ("GET", "/tenants/acme", None),
    ("GET", "/tenants/acme/requests", None),
    ("GET", "/requests/{rid}", None),
    ("POST", "/requests/{rid}/attest", {"agent": "Dana", "note": "called them back"}),
    ("POST", "/requests/{rid}/run", None),
    ("POST", "/requests/{rid}/approve", None),
    ("POST", "/requests/{rid}/download-link", None),
]
KEYED_IDS = [f"{m} {p}" for m, p, _ in KEYED]


def _call(api: Api, method: str, path: str, body: Any, headers: dict[str, str], rid: str) -> Any:
    return api.client.request(
        method, V1 + path.format(rid=rid), json=body, headers=headers, params={"wait": "true"}
    )


@pytest.mark.parametrize(("method", "path", "body"), KEYED, ids=KEYED_IDS)
def test_keyed_routes_without_a_key_are_401(api: Api, method: str, path: str, body: Any) -> None:
    rid = api.new_request()
    before = snapshot()
    resp = _call(api, method, path, body, {}, rid)
    assert_error(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"
    assert_untouched(before)


BAD_KEYS = {
    "garbage": {"Authorization": "Bearer garbage"},
    "fk-garbage": {"Authorization": "Bearer fk_0123456789ab_nope"},
    "fk-no-secret": {"Authorization": "Bearer fk_"},
    "basic": {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()},
    "empty-bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize(("method", "path", "body"), KEYED, ids=KEYED_IDS)
@pytest.mark.parametrize("bad", list(BAD_KEYS))
def test_keyed_routes_with_a_bad_key_are_refused(
    api: Api, method: str, path: str, body: Any, bad: str
) -> None:
    rid = api.new_request()
    before = snapshot()
    resp = _call(api, method, path, body, BAD_KEYS[bad], rid)
    if path.endswith("download-link") and bad == "garbage":
        # not an API key, so taken as the person's access token, which it is not
        assert_error(resp, 403, "not_signed_in")
    else:
        assert_error(resp, 401, "unauthorized")
    assert_untouched(before)


def test_a_key_that_differs_in_its_secret_is_401(api: Api) -> None:
    key = api.demo.api_key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert api_key_prefix(forged) == api_key_prefix(key)
    resp = api.client.get(f"{V1}/tenants/acme/requests", headers=bearer(forged))
    assert_error(resp, 401, "unauthorized")


def test_a_revoked_key_is_401(api: Api) -> None:
    assert api.client.get(f"{V1}/tenants/acme/requests", headers=api.key).status_code == 200
    prefix = api_key_prefix(api.demo.api_key)
    assert prefix
    tenants.revoke_api_key(prefix)
    before = snapshot()
    assert_error(
        api.client.get(f"{V1}/tenants/acme/requests", headers=api.key), 401, "unauthorized"
    )
    assert_error(api.submit(("email", "ana@example.org"), headers=api.key), 401, "unauthorized")
    assert_untouched(before)
    other = tenants.create_api_key("acme", "second")
    assert api.client.get(f"{V1}/tenants/acme/requests", headers=bearer(other)).status_code == 200


# --- tenant isolation --------------------------------------------------------------------------


def test_a_key_of_tenant_b_cannot_touch_tenant_a(api: Api, beta_key: str) -> None:
    ready, _ = api.ready_request(api.demo.sample_emails[0])
    waiting = api.new_request(api.demo.sample_emails[1])
    verified = api.new_request(api.demo.sample_emails[2])
    assert api.attest(verified).status_code == 200
    b = bearer(beta_key)
    before = snapshot()

    listed = api.client.get(f"{V1}/tenants/acme/requests", headers=b)
    assert_error(listed, 403, "wrong_tenant")
    assert_error(api.client.get(f"{V1}/tenants/acme", headers=b), 403, "wrong_tenant")
    assert_error(api.submit(("email", "x@example.org"), headers=b), 403, "wrong_tenant")
    for rid in (ready, waiting, verified):
        shown = api.client.get(f"{V1}/requests/{rid}", headers=b)
        assert_error(shown, 404, "request_not_found")
        assert_error(api.attest(rid, headers=b), 404, "request_not_found")
        assert_error(api.run(rid, headers=b), 404, "request_not_found")
        approve = api.client.post(f"{V1}/requests/{rid}/approve", headers=b)
        assert_error(approve, 404, "request_not_found")
        assert_error(api.link(rid, b), 404, "request_not_found")
    # never any of A's data in what B saw
    for email in api.demo.sample_emails:
        assert email not in listed.text and email not in shown.text
    assert_untouched(before)
    assert api.show(waiting)["state"] == "awaiting_verification"
    assert api.show(verified)["state"] == "verified"
    # and B's own list is empty, not A's
    own = api.client.get(f"{V1}/tenants/beta/requests", headers=b)
    assert own.status_code == 200 and own.json() == []


def test_the_admin_key_sees_every_tenant(api: Api, beta_key: str) -> None:
    rid = api.new_request()
    assert api.client.get(f"{V1}/tenants/acme/requests", headers=api.admin).status_code == 200
    assert api.client.get(f"{V1}/tenants/beta/requests", headers=api.admin).status_code == 200
    assert api.client.get(f"{V1}/requests/{rid}", headers=api.admin).json()["id"] == rid


def test_only_an_admin_key_creates_tenants(api: Api, beta_key: str) -> None:
    body = {"slug": "gamma", "name": "Gamma SA", "jurisdictions": ["EU-FR"]}
    for key in (api.demo.api_key, beta_key):
        assert_error(api.client.post(f"{V1}/tenants", json=body, headers=bearer(key)), 403)
    assert_error(api.client.get(f"{V1}/tenants/gamma", headers=api.admin), 404, "tenant_not_found")

    made = api.client.post(f"{V1}/tenants", json=body, headers=api.admin)
    assert made.status_code == 201, made.text
    assert made.json()["slug"] == "gamma" and made.json()["jurisdictions"] == ["EU-FR"]
    again = api.client.post(f"{V1}/tenants", json=body, headers=api.admin)
    assert_error(again, 409, "tenant_exists")


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Bad Slug", "name": "x"},
        {"slug": "-x", "name": "x"},
        {"slug": "ok", "name": "   "},
        {"slug": "ok", "name": "x", "jurisdictions": ["XX"]},
        {"slug": "ok", "name": "x", "owner": "me"},
    ],
)
def test_bad_tenant_bodies_are_422(api: Api, body: dict[str, Any]) -> None:
    assert_error(api.client.post(f"{V1}/tenants", json=body, headers=api.admin), 422)
    assert_error(api.client.get(f"{V1}/tenants/ok", headers=api.admin), 404)


# --- the person's routes -------------------------------------------------------------------------


def test_the_person_needs_no_key_from_submit_to_download(api: Api) -> None:
    email = api.demo.sample_emails[0]
    submitted = api.submit(("email", email))
    assert submitted.status_code == 201, submitted.text
    rid = submitted.json()["id"]
    assert email not in submitted.text  # no echo of identities

    status = api.client.get(f"{V1}/requests/{rid}/status")
    assert status.status_code == 200
    assert set(status.json()) == {
        "id",
        "state",
        "due_date",
        "verification_locked",
        "download_ready",
    }
    assert email not in status.text

    assert api.client.post(f"{V1}/requests/{rid}/code").status_code == 202
    token = api.sign_in(rid, email)
    assert api.run(rid).status_code == 200  # the agent's part

    link = api.link(rid, bearer(token))
    assert link.status_code == 200, link.text
    download = api.client.get(link.json()["url"].removeprefix("http://testserver"))
    assert download.status_code == 200
    assert download.content[:2] == b"PK"
    assert api.client.get(f"{V1}/requests/{rid}/status").json()["state"] == "delivered"


def test_a_subject_token_opens_its_own_request_only(api: Api) -> None:
    mine, my_token = api.ready_request(api.demo.sample_emails[0])
    theirs, their_token = api.ready_request(api.demo.sample_emails[1])
    before = snapshot()
    assert_error(api.link(theirs, bearer(my_token)), 403, "not_signed_in")
    assert_error(api.link(mine, bearer(their_token)), 403, "not_signed_in")
    assert_untouched(before)
    assert api.link(mine, bearer(my_token)).status_code == 200
    # and it is no API key: the agents' routes stay shut
    for path in (f"/requests/{mine}", "/tenants/acme/requests"):
        assert_error(api.client.get(V1 + path, headers=bearer(my_token)), 401, "unauthorized")


def test_a_subject_token_forged_for_another_request_is_refused(api: Api) -> None:
    mine, token = api.ready_request(api.demo.sample_emails[0])
    theirs, _ = api.ready_request(api.demo.sample_emails[1])
    payload, rest = token.split(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data == {"r": mine}
    forged = base64.urlsafe_b64encode(json.dumps({"r": theirs}).encode()).decode().rstrip("=")
    assert_error(api.link(theirs, bearer(f"{forged}.{rest}")), 403, "not_signed_in")


# --- keys never leak ---------------------------------------------------------------------------


def test_api_keys_never_appear_in_responses_or_the_audit_trail(api: Api) -> None:
    key, admin = api.demo.api_key, api.demo.admin_key
    secrets_ = [key, admin, key.split("_", 2)[2], admin.split("_", 2)[2]]
    seen: list[str] = []

    def keep(resp: Any) -> Any:
        seen.append(resp.text)
        seen.append(json.dumps(dict(resp.headers)))
        return resp

    sub = keep(api.submit(("email", api.demo.sample_emails[0]), headers=api.key))
    rid = sub.json()["id"]
    keep(api.attest(rid))
    keep(api.run(rid))
    keep(api.link(rid, api.key))
    keep(api.client.get(f"{V1}/requests/{rid}", headers=api.key))
    keep(api.client.get(f"{V1}/requests/{rid}", headers=api.admin))
    keep(api.client.get(f"{V1}/tenants/acme/requests", headers=api.key))
    keep(api.client.post(f"{V1}/tenants", json={"slug": "z", "name": "Z"}, headers=api.admin))
    keep(api.client.post(f"{V1}/tenants", json={"slug": "y", "name": "Y"}, headers=api.key))
    keep(api.client.get(f"{V1}/tenants/beta/requests", headers=api.key))
    keep(api.client.get(f"{V1}/tenants/acme/requests", headers=bearer(key + "x")))

    events = api.show(rid)["events"]
    assert any(e["actor"] == "apikey:demo" for e in events)
    seen.append(json.dumps(events))
    seen.extend(json.dumps([e.actor, e.action, e.data]) for e in all_audit_events())
    text = "\n".join(seen)
    for secret in secrets_:
        assert secret not in text
    assert audit.verify_tenant("acme").ok
