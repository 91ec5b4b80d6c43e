"""The download centre: code sign-in, the person's packages, Range resume, limits, expiry, purge."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ferry.app import create_app
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.models import Identity
from ferry.services import (
    audit,
    collection,
    delivery,
    packages,
    packaging,
    recipients,
    requests,
    retention,
)
from ferry.store.tables import Package
from tests.conftest import Outbox
from tests.delivery.conftest import ready_request


@pytest.fixture
def client(shop: str) -> TestClient:
    with TestClient(create_app()) as c:
        yield c


def sign_in(client: TestClient, outbox: Outbox, email: str) -> None:
    answer = client.post("/p/acme/downloads/sign-in", data={"email": email})
    assert answer.status_code == 200 and "Enter your code" in answer.text
    code = outbox.last_code(email)
    done = client.post("/p/acme/downloads/code", data={"code": code}, follow_redirects=False)
    assert done.status_code == 303, done.text


def test_sign_in_list_and_resumable_download(
    client: TestClient, shop: str, ferry_env: Path
) -> None:
    rid = ready_request(shop, kind="access")
    outbox = Outbox(ferry_env)
    sign_in(client, outbox, shop)
    page = client.get("/p/acme/downloads")
    assert rid[:8] in page.text and "0 of 10" in page.text
    assert shop not in page.text  # the list shows no personal data
    go = client.post(f"/p/acme/downloads/{rid}", follow_redirects=False)
    assert go.status_code == 303
    url = go.headers["location"]
    whole = client.get(url)
    assert whole.status_code == 200
    sha = requests.show(rid).package.sha256
    assert hashlib.sha256(whole.content).hexdigest() == sha
    # a broken download resumes with Range and is not counted again
    part = client.get(url, headers={"Range": "bytes=100-"})
    assert part.status_code == 206
    assert part.headers["content-range"].startswith("bytes 100-")
    assert whole.content[:100] + part.content == whole.content
    shown = requests.show(rid)
    assert shown.state == "delivered" and shown.package.downloads == 1
    [receipt] = delivery.list_for(rid)
    assert receipt.channel == "download" and receipt.receipt["sha256"] == sha
    assert receipt.receipt["downloads"] == 1
    hits = [e for e in shown.events if e["action"] == "package.downloaded"]
    assert [h["data"]["resumed_from"] for h in hits] == [None, 100]
    assert audit.verify_tenant("acme").ok


def test_unknown_address_gets_the_same_answer_and_no_mail(
    client: TestClient, ferry_env: Path
) -> None:
    outbox = Outbox(ferry_env)
    before = len(outbox.messages())
    answer = client.post("/p/acme/downloads/sign-in", data={"email": "nobody@example.org"})
    assert answer.status_code == 200 and "Enter your code" in answer.text
    assert len(outbox.messages()) == before
    bad = client.post("/p/acme/downloads/code", data={"code": "123456"})
    assert bad.status_code == 400 and "not right" in bad.text
    assert "Email me a code" in client.get("/p/acme/downloads").text


def test_someone_elses_package_is_absent(client: TestClient, shop: str, ferry_env: Path) -> None:
    ready_request(shop, kind="access")
    other = requests.list_requests("acme")[0].id
    sign_in(client, Outbox(ferry_env), shop)
    stranger = requests.submit(
        "acme", "access", [Identity.parse("email", "x@example.org")], jurisdiction="GB"
    )
    assert client.post(f"/p/acme/downloads/{stranger.id}").status_code == 404
    assert client.post(f"/p/acme/downloads/{other}", follow_redirects=False).status_code == 303


def test_download_limit(client: TestClient, shop: str) -> None:
    recipients.set_policy("acme", max_downloads=2)
    rid = ready_request(shop, kind="access")
    link = packages.download_link(rid, "agent")
    path = f"/api/v1/downloads/{link.token}"
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    third = client.get(path)
    assert third.status_code == 429 and third.json()["code"] == "download_limit"
    assert client.get(path, headers={"Range": "bytes=10-"}).status_code == 206  # resume allowed
    # a Range on a link that never started a download is not a resume: it counts (and is refused)
    fresh = packages.download_link(rid, "agent")
    cheat = client.get(f"/api/v1/downloads/{fresh.token}", headers={"Range": "bytes=1-"})
    assert cheat.status_code == 429
    actions = [e["action"] for e in requests.show(rid).events]
    assert "download.refused" in actions


def test_expired_and_tampered_links(
    client: TestClient, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipients.set_policy("acme", link_ttl_hours=2)
    rid = ready_request(shop, kind="access")
    link = packages.download_link(rid, "agent")
    assert link.expires_at - utcnow() <= timedelta(hours=2)
    tampered = link.token[:-2] + ("AA" if not link.token.endswith("AA") else "BB")
    assert client.get(f"/api/v1/downloads/{tampered}").status_code == 403
    later = utcnow() + timedelta(hours=3)
    monkeypatch.setattr("ferry.services.packages.utcnow", lambda: later)
    gone = client.get(f"/api/v1/downloads/{link.token}")
    assert gone.status_code == 410 and gone.json()["code"] == "link_expired"


def test_purge_after_retention(client: TestClient, shop: str) -> None:
    recipients.set_policy("acme", retention_days=3)
    rid = ready_request(shop, kind="access")
    link = packages.download_link(rid, "agent")
    assert client.get(f"/api/v1/downloads/{link.token}").status_code == 200
    assert retention.purge_expired(now=utcnow() + timedelta(days=2)) == []
    purged = retention.purge_expired(now=utcnow() + timedelta(days=4))
    assert [p.request_id for p in purged] == [rid] and purged[0].file_existed
    assert client.get(f"/api/v1/downloads/{link.token}").status_code == 410
    shown = requests.show(rid)
    assert shown.state == "closed"
    assert "package.purged" in [e["action"] for e in shown.events]
    assert retention.purge_expired(now=utcnow() + timedelta(days=5)) == []  # recorded once
    assert audit.verify_tenant("acme").ok


def test_free_resumes_are_capped_per_link(
    client: TestClient, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packages, "MAX_RESUMES", 2)
    rid = ready_request(shop, kind="access")
    path = f"/api/v1/downloads/{packages.download_link(rid, 'agent').token}"
    assert client.get(path).status_code == 200
    for _ in range(3):
        assert client.get(path, headers={"Range": "bytes=5-"}).status_code == 206
    assert requests.show(rid).package.downloads == 2  # the third "resume" was counted


def test_purge_removes_the_redaction_report_and_builds_left_aside(
    client: TestClient, shop: str
) -> None:
    recipients.set_policy("acme", retention_days=3)
    rid = ready_request(shop, kind="access")
    path = Path(requests_store_path(rid))
    folder = path.parent
    (folder / packaging.REDACTIONS_FILE).write_bytes(b"encrypted report")  # as a build leaves it
    (folder / f"{packaging.ASIDE}dead" / "package.zip.enc").parent.mkdir()
    (folder / f"{packaging.ASIDE}dead" / "package.zip.enc").write_bytes(b"a crashed build")
    purged = retention.purge_expired(now=utcnow() + timedelta(days=4))
    assert [p.request_id for p in purged] == [rid] and purged[0].file_existed
    assert list(folder.iterdir()) == []


def test_purging_an_older_package_keeps_the_newer_one_it_shares_a_path_with(
    client: TestClient, shop: str
) -> None:
    recipients.set_policy("acme", retention_days=3)
    rid = ready_request(shop, kind="access")
    assert collection.run(rid, "agent").state == "ready"  # rebuilt: a second package, same path
    with unit_of_work() as session:
        old, new = session.scalars(
            select(Package).where(Package.request_id == rid).order_by(Package.id)
        ).all()
        old.created_at = utcnow() - timedelta(days=10)
        new_sha = new.sha256
    purged = retention.purge_expired(now=utcnow() + timedelta(days=1))
    assert [p.request_id for p in purged] == [rid] and not purged[0].file_existed
    shown = requests.show(rid)
    assert shown.package is not None and shown.package.sha256 == new_sha
    link = packages.download_link(rid, "agent")
    whole = client.get(f"/api/v1/downloads/{link.token}")
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == shown.package.sha256


def requests_store_path(request_id: str) -> str:
    with unit_of_work() as session:
        return str(
            session.scalars(
                select(Package.path).where(Package.request_id == request_id).order_by(Package.id)
            ).first()
        )
