"""HTTPS push against a receiver started by the test: signature verified, payload decrypted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ferry.crypto import httpsig
from ferry.domain.errors import InvalidInput
from ferry.services import delivery, keys, recipients, requests
from tests.delivery.conftest import ready_request
from tests.delivery.peers import serve_app
from tests.delivery.receiver import Receiver


def sender_key() -> httpsig.SigningKey:
    return keys.http_public_key("acme")


@pytest.fixture
def receiver(shop: str) -> Iterator[tuple[Receiver, str]]:
    rcv = Receiver()
    key = sender_key()
    rcv.trusted[key.key_id] = key.private.public_key()
    with serve_app(rcv.app()) as base:
        yield rcv, base


def add_https(url: str, rcv: Receiver, timeout: float = 10) -> None:
    recipients.add(
        "acme",
        "newco",
        "https",
        {"url": url, "age_recipient": rcv.age_recipient, "timeout_s": timeout},
        country="NL",
    )


def test_push_is_signed_encrypted_and_acknowledged(shop: str, receiver) -> None:
    rcv, base = receiver
    add_https(f"{base}/inbox", rcv)
    rid = ready_request(shop, recipient="newco")
    shown = requests.show(rid)
    assert shown.state == "delivered" and shown.package is not None
    [d] = delivery.list_for(rid)
    assert d.receipt["ack"]["package_sha256"] == shown.package.sha256
    assert d.receipt["ack"]["id"] == "rcv-1"
    [plain] = rcv.stored.values()
    assert plain[:2] == b"PK"  # the decrypted zip
    assert rcv.rejected == []
    again = delivery.deliver(rid, "agent")  # answered from the receipt: not sent again
    assert again.state == "delivered" and rcv.posts == 1


def test_peer_500_is_retried_and_stored_once(shop: str, receiver) -> None:
    rcv, base = receiver
    rcv.fail_first = 2
    add_https(f"{base}/inbox", rcv)
    rid = ready_request(shop, recipient="newco")
    [d] = delivery.list_for(rid)
    assert d.state == "delivered" and d.attempts == 3
    assert len(rcv.stored) == 1


def test_wrong_key_is_refused_and_final(shop: str, receiver) -> None:
    rcv, base = receiver
    rcv.trusted = {sender_key().key_id: Ed25519PrivateKey.generate().public_key()}
    add_https(f"{base}/inbox", rcv)
    rid = ready_request(shop, recipient="newco")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and d.attempts == 1
    assert "refused" in (d.error or "") and rcv.stored == {}
    assert rcv.rejected and requests.show(rid).state == "ready"


def test_slow_peer_times_out_then_fails(shop: str, receiver) -> None:
    rcv, base = receiver
    rcv.delay_s = 1.5
    add_https(f"{base}/inbox", rcv, timeout=0.5)
    rid = ready_request(shop, recipient="newco")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and d.attempts == 3 and "in time" in (d.error or "")


def test_peer_down(shop: str) -> None:
    rcv = Receiver()
    add_https("http://127.0.0.1:9/inbox", rcv)
    rid = ready_request(shop, recipient="newco")
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and "cannot reach" in (d.error or "")


def test_tampered_body_fails_verification(shop: str, tmp_path: Path) -> None:
    key = sender_key()
    body = tmp_path / "b"
    body.write_bytes(b"sealed bytes")
    headers = {
        "Content-Type": "application/x",
        "Content-Digest": httpsig.file_digest(body),
        "Idempotency-Key": "k1",
        "X-Ferry-Package-SHA256": "00",
    }
    req = httpx.Request(
        "POST", "https://rcv.example/inbox", headers=headers, content=body.read_bytes()
    )
    httpsig.sign(req, key)
    trusted = {key.key_id: key.private.public_key()}
    assert httpsig.verify(req, trusted, body=b"sealed bytes") == key.key_id
    with pytest.raises(httpsig.InvalidSignature):
        httpsig.verify(req, trusted, body=b"sealed bytez")
    req.headers["Idempotency-Key"] = "k2"
    with pytest.raises(httpsig.InvalidSignature):
        httpsig.verify(req, trusted, body=b"sealed bytes")


@pytest.mark.parametrize(
    "config",
    [
        {"url": "http://example.org/inbox", "age_recipient": Receiver().age_recipient},
        {"url": "https://example.org/inbox", "age_recipient": Receiver().age_recipient, "x": 1},
        {"url": "https://example.org/inbox", "age_recipient": "not-age"},
        {"url": "https://example.org/inbox"},
    ],
)
def test_bad_https_recipient_refused(shop: str, config: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        recipients.add("acme", "bad", "https", config, country="DE")


def test_http_key_is_stored_wrapped_not_as_a_file(shop: str) -> None:
    import base64

    from ferry.db import unit_of_work
    from ferry.settings import get_settings
    from ferry.store.tables import TenantKey

    key = sender_key()
    assert key.key_id.endswith("/api/v1/tenants/acme/keys/http")
    assert sender_key().public_pem() == key.public_pem()  # made once, then reused
    raw = key.private.private_bytes_raw()
    with unit_of_work() as session:
        [row] = session.query(TenantKey).filter_by(purpose=keys.HTTP).all()
        assert raw not in base64.b64decode(row.secret)
    assert not list((get_settings().var_dir / "keys").glob("*/http-ed25519.pem"))


def test_a_plain_key_file_from_an_earlier_version_is_adopted_then_removed(
    ferry_env: Path,
) -> None:
    from cryptography.hazmat.primitives import serialization

    from ferry.db import unit_of_work
    from ferry.services import tenants
    from ferry.settings import get_settings
    from ferry.store.tables import AuditEvent

    tenants.create_tenant("globex", "Globex", ["GB"], actor="test")
    old = Ed25519PrivateKey.generate()
    legacy = get_settings().var_dir / "keys" / "globex" / "http-ed25519.pem"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(
        old.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    adopted = keys.http_public_key("globex")
    assert adopted.private.private_bytes_raw() == old.private_bytes_raw()
    assert not legacy.exists()
    assert keys.http_public_key("globex").public_pem() == adopted.public_pem()
    with unit_of_work() as session:
        actions = [e.action for e in session.query(AuditEvent).all()]
    assert actions.count("key.imported") == 1


def test_an_unreadable_legacy_key_file_is_a_clear_error(ferry_env: Path) -> None:
    from ferry.domain.errors import FerryError
    from ferry.services import tenants
    from ferry.settings import get_settings

    tenants.create_tenant("globex", "Globex", ["GB"], actor="test")
    legacy = get_settings().var_dir / "keys" / "globex" / "http-ed25519.pem"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(FerryError, match="not a readable Ed25519 key"):
        keys.http_public_key("globex")
    assert legacy.exists()  # left for the operator to look at


def test_rotating_the_http_key_publishes_a_new_one(shop: str) -> None:
    before = sender_key().public_pem()
    keys.rotate("acme", keys.HTTP, "test")
    assert sender_key().public_pem() != before


def test_a_channel_given_no_key_refuses_to_send(tmp_path: Path) -> None:
    from ferry.delivery.base import DeliveryError, Shipment
    from ferry.delivery.https import HttpsChannel, HttpsConfig

    rcv = Receiver()
    channel = HttpsChannel(
        HttpsConfig(url="https://rcv.example/inbox", age_recipient=rcv.age_recipient)
    )
    package = tmp_path / "p.zip"
    package.write_bytes(b"PK")
    shipment = Shipment("r1", "acme", package, "00", 2, "p.zip", "k1")
    with pytest.raises(DeliveryError, match="no signing key"):
        channel.deliver(shipment)
