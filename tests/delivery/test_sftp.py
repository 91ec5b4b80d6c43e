"""SFTP push against a real SFTP server on loopback (asyncssh), success and every failure path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncssh
import pytest

from ferry.delivery.base import DeliveryError
from ferry.domain.errors import FerryError, InvalidInput
from ferry.services import audit, delivery, recipients, requests
from tests.delivery.conftest import ready_request
from tests.delivery.peers import SftpPeer, sftp_peer


@pytest.fixture
def peer(tmp_path: Path) -> SftpPeer:
    with sftp_peer(tmp_path) as p:
        yield p


def add_sftp(
    peer: SftpPeer,
    name: str = "bank",
    host_key: str | None = None,
    country: str = "FR",
    key_file: Path | None = None,
) -> None:
    recipients.add(
        "acme",
        name,
        "sftp",
        {
            "url": f"sftp://bob@127.0.0.1:{peer.port}/inbox",
            "host_key": host_key or peer.host_key_line,
            "key_file": str(key_file or peer.client_key_file),
            "timeout_s": 10,
        },
        country=country,
    )


def actions(request_id: str) -> list[str]:
    return [e["action"] for e in requests.show(request_id).events]


def test_ready_transfer_lands_once_with_checked_digest(shop: str, peer: SftpPeer) -> None:
    add_sftp(peer)
    rid = ready_request(shop, recipient="bank")
    shown = requests.show(rid)
    assert shown.state == "delivered"
    assert shown.package is not None
    landed = list((peer.root / "inbox").iterdir())
    assert [p.name for p in landed] == [f"acme-{rid}.zip"]  # no .partial left behind
    assert hashlib.sha256(landed[0].read_bytes()).hexdigest() == shown.package.sha256
    [d] = delivery.list_for(rid)
    assert d.state == "delivered" and d.receipt["checked"] is True
    assert d.receipt["sha256"] == shown.package.sha256
    # delivering again sends nothing: the receipt answers
    mtime = landed[0].stat().st_mtime_ns
    again = delivery.deliver(rid, "cli")
    assert again.state == "delivered" and again.attempts == 1
    assert landed[0].stat().st_mtime_ns == mtime
    assert len(peer.logins) == 1
    assert "transfer.checked" in actions(rid) and "delivery.completed" in actions(rid)
    assert audit.verify_tenant("acme").ok


def test_unknown_host_key_refused_nothing_sent(shop: str, peer: SftpPeer) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    add_sftp(peer, host_key=other)
    rid = ready_request(shop, recipient="bank")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and d.attempts == 1  # not retried: retrying cannot help
    assert "host key" in (d.error or "")
    assert list((peer.root / "inbox").iterdir()) == []
    assert requests.show(rid).state == "ready"  # nothing lost: an agent can retry


def test_refused_login(shop: str, peer: SftpPeer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    add_sftp(peer, key_file=stranger)
    rid = ready_request(shop, recipient="bank")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and "refused the login" in (d.error or "")
    assert peer.logins == []


def test_full_disk_is_a_clear_failure_then_manual_retry_works(shop: str, peer: SftpPeer) -> None:
    peer.full_disk = True
    add_sftp(peer)
    rid = ready_request(shop, recipient="bank")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and d.attempts == 1
    assert "disk space" in (d.error or "")
    assert list((peer.root / "inbox").iterdir()) == []  # the partial file was removed
    peer.full_disk = False
    done = delivery.deliver(rid, "agent")
    assert done.state == "delivered" and done.attempts == 2
    assert requests.show(rid).state == "delivered"


def test_flaky_peer_is_retried(shop: str, peer: SftpPeer) -> None:
    peer.fail_writes = 1
    add_sftp(peer)
    rid = ready_request(shop, recipient="bank")
    [d] = delivery.list_for(rid)
    assert d.state == "delivered" and d.attempts == 2
    assert "delivery.retrying" in actions(rid)
    assert len(list((peer.root / "inbox").iterdir())) == 1


def test_peer_down_fails_after_retries(shop: str, peer: SftpPeer) -> None:
    add_sftp(peer)
    recipients.add(
        "acme",
        "gone",
        "sftp",
        {
            "url": "sftp://bob@127.0.0.1:1/inbox",
            "host_key": peer.host_key_line,
            "key_file": str(peer.client_key_file),
            "timeout_s": 5,
        },
        country="DE",
    )
    rid = ready_request(shop, recipient="gone")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and d.attempts == 3
    assert actions(rid).count("delivery.retrying") == 2


def test_transfer_outside_adequacy_is_refused_before_connecting(shop: str, peer: SftpPeer) -> None:
    add_sftp(peer, country="CN")
    rid = ready_request(shop, recipient="bank")
    assert delivery.list_for(rid) == []
    with pytest.raises(FerryError) as err:
        delivery.deliver(rid, "agent")
    assert err.value.code == "transfer_refused"
    assert peer.logins == []
    assert "transfer.checked" in actions(rid)


@pytest.mark.parametrize(
    "config",
    [
        {"url": "ftp://bob@h/x", "host_key": "ssh-ed25519 AAAA", "key_file": "k"},
        {"url": "sftp://h/x", "host_key": "ssh-ed25519 AAAA", "key_file": "k"},
        {"url": "sftp://bob@h/x", "host_key": "not a key", "key_file": "k"},
        {"url": "sftp://bob@h/x", "key_file": "k"},
        {"url": "sftp://bob@h/x", "host_key": "x", "key_file": "k", "extra": 1},
    ],
)
def test_bad_recipient_config_refused(shop: str, config: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        recipients.add("acme", "bad", "sftp", config, country="DE")
    assert recipients.list_for("acme") == []


def test_delivery_error_has_retryable_flag() -> None:
    assert DeliveryError("x").retryable and not DeliveryError("x", retryable=False).retryable


def test_review_tenant_sends_only_after_approval(shop: str, peer: SftpPeer) -> None:
    from ferry.db import unit_of_work
    from ferry.domain.models import Identity
    from ferry.services import collection, jobs, verification
    from ferry.store import tenants as tenant_store

    with unit_of_work() as session:
        tenant_store.get_by_slug(session, "acme").review_required = True
    add_sftp(peer)
    view = requests.submit(
        "acme", "transfer", [Identity.parse("email", shop)], jurisdiction="EU-DE", recipient="bank"
    )
    verification.attest(view.id, "tester", "called the person back")
    assert collection.run(view.id, "agent").state == "review"
    jobs.shutdown(wait=True)
    assert list((peer.root / "inbox").iterdir()) == []
    with pytest.raises(FerryError):
        delivery.deliver(view.id, "agent")  # not approved: nothing leaves
    assert list((peer.root / "inbox").iterdir()) == []
    requests.approve(view.id, "reviewer")
    jobs.shutdown(wait=True)
    assert requests.show(view.id).state == "delivered"
    assert len(list((peer.root / "inbox").iterdir())) == 1


def test_key_file_checked_when_added_and_when_sending(
    shop: str, peer: SftpPeer, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="private key"):
        add_sftp(peer, key_file=tmp_path / "missing")
    key = tmp_path / "moved_key"
    key.write_bytes(peer.client_key_file.read_bytes())
    add_sftp(peer, key_file=key)
    key.unlink()  # an operator removed it after the recipient was added
    rid = ready_request(shop, recipient="bank")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and "private key" in (d.error or "")  # recorded, not stuck
    key.write_bytes(peer.client_key_file.read_bytes())
    assert delivery.deliver(rid, "agent").state == "delivered"


def test_a_channel_bug_is_recorded_not_stuck(
    shop: str, peer: SftpPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.delivery.testing import MemoryChannel

    add_sftp(peer)
    monkeypatch.setattr("ferry.services.delivery.schedule_after_commit", lambda *_: None)
    rid = ready_request(shop, recipient="bank")

    class Broken(MemoryChannel):
        def deliver(self, shipment):  # type: ignore[no-untyped-def]
            raise KeyError("bug")

    view = delivery.deliver(rid, "agent", opener=lambda *_: Broken())
    assert view.state == "failed" and "KeyError" in (view.error or "")
    assert delivery.deliver(rid, "agent").state == "delivered"


def test_person_asks_for_a_transfer_in_the_portal(shop: str, peer: SftpPeer) -> None:
    from fastapi.testclient import TestClient

    from ferry.app import create_app

    add_sftp(peer)
    with TestClient(create_app()) as client:
        page = client.get("/p/acme/transfer")
        assert page.status_code == 200 and "bank" in page.text
        bad = client.post(
            "/p/acme/transfer",
            data={"email": shop, "recipient": "evil-corp", "jurisdiction": "EU-DE"},
        )
        assert bad.status_code == 400 and "from the list" in bad.text
        sent = client.post(
            "/p/acme/transfer",
            data={"email": shop, "recipient": "bank", "jurisdiction": "EU-DE"},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("/verify")
    [view] = requests.list_requests("acme")
    assert view.kind == "transfer"
    assert "request.recipient_named" in actions(view.id)
