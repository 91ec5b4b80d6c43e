"""consent-share: a share runs only inside its consent's scope and time; revoking stops pending
shares; the consent is in the audit trail and exportable as a receipt."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, InvalidInput
from ferry.domain.models import Identity
from ferry.services import (
    audit,
    collection,
    consents,
    delivery,
    jobs,
    recipients,
    requests,
    tenants,
    verification,
)
from tests.conftest import Outbox
from tests.delivery.peers import SftpPeer, sftp_peer

SOON = datetime.now(UTC) + timedelta(days=30)


@pytest.fixture
def peer(shop: str, tmp_path: Path):
    with sftp_peer(tmp_path) as p:
        recipients.add(
            "acme",
            "insurer",
            "sftp",
            {
                "url": f"sftp://bob@127.0.0.1:{p.port}/inbox",
                "host_key": p.host_key_line,
                "key_file": str(p.client_key_file),
            },
            country="DE",
        )
        yield p


def grant(email: str, categories: list[str] | None = None, expires: datetime = SOON) -> str:
    return consents.grant(
        "acme",
        email,
        "insurer",
        "a quote for home insurance",
        categories or ["user.contact.address"],
        expires,
        "web-form",
        "form submission #4711",
        "agent",
    ).id


def share(email: str, consent: str, categories: tuple[str, ...] = ()) -> str:
    from ferry.domain.models import Scope

    view = requests.submit(
        "acme",
        "consent-share",
        [Identity.parse("email", email)],
        jurisdiction="EU-DE",
        consent=consent,
        scope=Scope(categories=categories),
        actor="agent",
    )
    verification.attest(view.id, "tester", "called the person back")
    return view.id


def test_share_inside_consent_sends_only_consented_categories(shop: str, peer: SftpPeer) -> None:
    cid = grant(shop)
    rid = share(shop, cid)
    view = collection.run(rid, "agent")
    assert view.state == "ready", view.failure
    jobs.shutdown(wait=True)
    assert requests.show(rid).state == "delivered"
    [landed] = list((peer.root / "inbox").iterdir())
    with zipfile.ZipFile(io.BytesIO(landed.read_bytes())) as z:
        rows = json.loads(z.read("data/shop/customers.json"))
    record = rows[0] if isinstance(rows, list) else rows["rows"][0]
    text = json.dumps(record)
    assert "city" in text and "email" not in text and "date_of_birth" not in text
    actions = [e["action"] for e in requests.show(rid).events]
    assert "request.consent_attached" in actions and "consent.share_allowed" in actions


def test_share_outside_scope_or_someone_elses_consent_refused(shop: str, peer: SftpPeer) -> None:
    cid = grant(shop)
    with pytest.raises(consents.OutsideConsent, match="outside the consent"):
        share(shop, cid, categories=("user.financial",))
    with pytest.raises(consents.OutsideConsent, match="someone else"):
        share("other@example.org", cid)
    assert requests.list_requests("acme") == []  # nothing half-made


def test_expired_consent_stops_the_share(
    shop: str, peer: SftpPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = grant(shop, expires=datetime.now(UTC) + timedelta(hours=1))
    rid = share(shop, cid)
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr("ferry.services.consents.utcnow", lambda: later)
    collection.run(rid, "agent")
    jobs.shutdown(wait=True)
    assert list((peer.root / "inbox").iterdir()) == []
    with pytest.raises(FerryError) as err:
        delivery.deliver(rid, "agent")
    assert err.value.code == "outside_consent"
    assert "consent.share_refused" in [e["action"] for e in requests.show(rid).events]


def test_revoke_stops_pending_share(shop: str, peer: SftpPeer) -> None:
    cid = grant(shop)
    rid = share(shop, cid)
    view = consents.revoke(cid, "subject")
    assert view.revoked_at is not None and not view.active
    assert requests.show(rid).state == "withdrawn"
    with pytest.raises(FerryError):
        delivery.deliver(rid, "agent")
    assert list((peer.root / "inbox").iterdir()) == []
    with pytest.raises(consents.OutsideConsent, match="revoked"):
        share(shop, cid)
    assert audit.verify_tenant("acme").ok


def test_consent_api_receipt_and_portal_revoke(shop: str, peer: SftpPeer, ferry_env: Path) -> None:
    key = tenants.create_api_key("acme", "crm")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app()) as client:
        made = client.post(
            "/api/v1/tenants/acme/consents",
            headers=auth,
            json={
                "subject_email": shop,
                "recipient": "insurer",
                "purpose": "insurance quote",
                "categories": ["user.contact.address"],
                "expires_at": SOON.isoformat(),
                "method": "portal",
                "proof": "click log 2026-11-29T10:00Z",
            },
        )
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        bad = client.post(
            "/api/v1/tenants/acme/consents",
            headers=auth,
            json={
                **made.json(),
                "subject_email": shop,
                "proof": "x",
                "method": "telepathy",
                "expires_at": SOON.isoformat(),
            },
        )
        assert bad.status_code == 422
        receipt = client.get(f"/api/v1/consents/{cid}/receipt", headers=auth).json()
        assert receipt["consentReceiptID"] == cid
        assert receipt["services"][0]["purposes"][0]["piiCategory"] == ["user.contact.address"]
        # the person got a link (no data in the mail) and withdraws in the portal
        [mail] = [m for m in Outbox(ferry_env).to(shop) if "consent" in m["Subject"]]
        body = mail.get_payload(decode=True).decode()
        link = body.split("at ")[-1].strip().replace("http://testserver", "")
        page = client.get(link)
        assert page.status_code == 200 and "insurance quote" in page.text
        assert client.get(link[:-4] + "abcd").status_code == 403
        done = client.post(link + "/revoke", follow_redirects=True)
        assert "You withdrew this consent" in done.text
        shown = client.get(f"/api/v1/consents/{cid}", headers=auth).json()
        assert shown["active"] is False and shown["revoked_at"]
        tenants.create_tenant("globex", "Globex", ["GB"])
        other = {"Authorization": f"Bearer {tenants.create_api_key('globex', 'g')}"}
        assert client.get(f"/api/v1/consents/{cid}", headers=other).status_code == 404


def test_request_without_consent_is_kept_but_shares_nothing(shop: str, peer: SftpPeer) -> None:
    early = requests.submit(
        "acme", "consent-share", [Identity.parse("email", shop)], jurisdiction="EU-DE"
    )
    late = requests.submit(
        "acme", "consent-share", [Identity.parse("email", shop)], jurisdiction="EU-DE"
    )
    for rid in (early.id, late.id):
        verification.attest(rid, "tester", "called the person back")
    collection.run(late.id, "agent")
    jobs.shutdown(wait=True)
    with pytest.raises(FerryError):
        delivery.deliver(late.id, "agent")  # no consent, no recipient: nothing leaves
    with pytest.raises(InvalidInput, match="before the data is collected"):
        consents.attach_to_request(late.id, grant(shop), "agent")
    consents.attach_to_request(early.id, grant(shop), "agent")
    collection.run(early.id, "agent")
    jobs.shutdown(wait=True)
    assert requests.show(early.id).state == "delivered"
    assert len(list((peer.root / "inbox").iterdir())) == 1


def test_person_gives_and_sees_consents_in_the_portal(
    shop: str, peer: SftpPeer, ferry_env: Path
) -> None:
    from tests.delivery.test_download_centre import sign_in

    ready_request_access = requests.submit(
        "acme", "access", [Identity.parse("email", shop)], jurisdiction="GB"
    )
    verification.attest(ready_request_access.id, "t", "called the person back")
    collection.run(ready_request_access.id, "agent")
    with TestClient(create_app()) as client:
        assert client.get("/p/acme/downloads/consents", follow_redirects=False).status_code == 303
        sign_in(client, Outbox(ferry_env), shop)
        page = client.get("/p/acme/downloads/consents")
        assert "insurer" in page.text and "user.contact" in page.text
        bad = client.post(
            "/p/acme/downloads/consents",
            data={
                "recipient": "insurer",
                "purpose": "quote",
                "category": ["user.secret"],
                "months": "3",
            },
        )
        assert bad.status_code == 400 and "Choose at least one" in bad.text
        evil = client.post(
            "/p/acme/downloads/consents",
            data={
                "recipient": "someone-else",
                "purpose": "x",
                "category": ["user.contact"],
                "months": "3",
            },
        )
        assert evil.status_code == 400
        done = client.post(
            "/p/acme/downloads/consents",
            data={
                "recipient": "insurer",
                "purpose": "home insurance quote",
                "category": ["user.contact"],
                "months": "3",
            },
            follow_redirects=True,
        )
        assert done.status_code == 200 and "home insurance quote" in done.text
        [given] = [c for c in consents_of(shop)]
        assert given.method == "portal" and given.categories == ["user.contact"]
        receipt = consents.receipt(given.id)
        assert "one-time code" in receipt["proof"]


def consents_of(email: str) -> list[consents.ConsentView]:
    from sqlalchemy import select

    from ferry.db import unit_of_work
    from ferry.store.tables import Consent

    with unit_of_work() as session:
        ids = list(session.scalars(select(Consent.id).where(Consent.subject == email)))
    return [consents.show(i) for i in ids]
