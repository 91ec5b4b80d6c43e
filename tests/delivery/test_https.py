"""HTTPS push against a receiver started by the test: signature verified, payload decrypted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ferry.crypto import httpsig
from ferry.domain.errors import InvalidInput
from ferry.services import delivery, recipients, requests
from ferry.settings import get_settings
from tests.delivery.conftest import ready_request
from tests.delivery.peers import serve_app
from tests.delivery.receiver import Receiver


def sender_key() -> httpsig.SigningKey:
    s = get_settings()
    return httpsig.tenant_key(s.var_dir, "acme", s.public_url)


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
