"""The delivery service with the channel test double: retries, no double send, hostile input."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ferry.app import create_app
from ferry.delivery import registry
from ferry.delivery.base import DeliveryError, Receipt, Shipment
from ferry.delivery.testing import MemoryChannel
from ferry.domain.errors import Conflict
from ferry.services import delivery, packages, recipients, requests
from ferry.services.delivery import Retry
from tests.delivery.conftest import ready_request
from tests.delivery.peers import sftp_peer


def add_memory_recipient(peer_port: int = 1) -> None:
    # a real recipient row (so the transfer check and receipts work); the channel is swapped
    recipients.add(
        "acme",
        "mem",
        "https",
        {
            "url": "https://mem.example/in",
            "age_recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        },
        country="DE",
    )


def test_backoff_grows_and_is_capped() -> None:
    waits: list[float] = []
    retry = Retry(attempts=6, backoff_s=2.0, sleep=waits.append)
    for attempt in range(1, 6):
        retry.wait(attempt)
    assert waits == [2.0, 8.0, 32.0, 128.0, 512.0]
    Retry(attempts=2, backoff_s=1000, sleep=waits.append).wait(3)
    assert waits[-1] == 900.0


def test_retry_then_success_with_memory_channel(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add_memory_recipient()
    monkeypatch.setattr("ferry.services.delivery.schedule_after_commit", lambda *_: None)
    rid = ready_request(shop, recipient="mem")
    channel = MemoryChannel(fail=lambda n: DeliveryError("flaky") if n < 3 else None)
    waits: list[float] = []
    view = delivery.deliver(
        rid, "agent", retry=Retry(4, 1.0, waits.append), opener=lambda *_: channel
    )
    assert view.state == "delivered" and view.attempts == 3 and waits == [1.0, 4.0]
    assert len(channel.received) == 1


def test_two_senders_at_once_send_once(shop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add_memory_recipient()
    monkeypatch.setattr("ferry.services.delivery.schedule_after_commit", lambda *_: None)
    rid = ready_request(shop, recipient="mem")
    entered, release = threading.Event(), threading.Event()

    class Slow(MemoryChannel):
        def deliver(self, shipment: Shipment) -> Receipt:
            entered.set()
            release.wait(10)
            return super().deliver(shipment)

    slow = Slow()
    outcome: dict[str, object] = {}
    first = threading.Thread(
        target=lambda: outcome.setdefault(
            "first", delivery.deliver(rid, "a", opener=lambda *_: slow)
        )
    )
    first.start()
    assert entered.wait(10)
    with pytest.raises(Conflict):
        delivery.deliver(rid, "b", opener=lambda *_: slow)
    release.set()
    first.join(10)
    assert slow.attempts == 1
    assert delivery.deliver(rid, "c", opener=lambda *_: slow).state == "delivered"
    assert slow.attempts == 1  # answered from the receipt


def test_sftp_peer_that_never_speaks_times_out(shop: str, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        with sftp_peer(tmp_path) as peer:
            recipients.add(
                "acme",
                "mute",
                "sftp",
                {
                    "url": f"sftp://bob@127.0.0.1:{port}/inbox",
                    "host_key": peer.host_key_line,
                    "key_file": str(peer.client_key_file),
                    "timeout_s": 0.5,
                },
                country="DE",
            )
            rid = ready_request(shop, recipient="mute")
    finally:
        listener.close()
    [d] = delivery.list_for(rid)
    assert d.state == "failed" and d.attempts == 3
    assert requests.show(rid).state == "ready"


@pytest.mark.parametrize(
    "header", ["bytes=abc-", "bytes=99999999999-", "items=0-1", "bytes=-5", "bytes=0-0,5-9", "\x00"]
)
def test_hostile_range_headers(shop: str, header: str) -> None:
    rid = ready_request(shop, kind="access")
    link = packages.download_link(rid, "agent")
    with TestClient(create_app()) as client:
        got = client.get(f"/api/v1/downloads/{link.token}", headers={"Range": header})
    assert got.status_code in (206, 416), got.text
    assert requests.show(rid).package.downloads <= 1


def test_hostile_recipient_names_and_countries(shop: str) -> None:
    good = {
        "url": "https://r.example/in",
        "age_recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    }
    for name in ["", "../x", "a b", "x" * 101, "é"]:
        with pytest.raises(Exception):
            recipients.add("acme", name, "https", good, country="DE")
    for country in ["Germany", "D", "1A", "DE; drop"]:
        with pytest.raises(Exception):
            recipients.add("acme", "ok", "https", good, country=country)
    with pytest.raises(Exception):
        recipients.add("acme", "ok", "carrier-pigeon", good, country="DE")
    assert recipients.list_for("acme") == []
    assert "sftp" in registry.names()


def test_bulk_run_hands_transfers_to_their_recipient(
    shop: str, monkeypatch: pytest.MonkeyPatch, outbox
) -> None:
    """In a bulk run, whether a request names a recipient is read for the whole batch at
    once: the transfer is scheduled for delivery, the plain access request gets its notice."""
    from ferry.domain.models import Identity
    from ferry.services import bulk, verification

    add_memory_recipient()
    scheduled: list[str] = []
    monkeypatch.setattr(
        "ferry.services.delivery.schedule_after_commit", lambda _s, rid: scheduled.append(rid)
    )
    ids = {}
    for kind, recipient in (("transfer", "mem"), ("access", None)):
        view = requests.submit(
            "acme",
            kind,
            [Identity.parse("email", shop)],
            jurisdiction="EU-DE",
            recipient=recipient,
            channel="cli",
        )
        verification.attest(view.id, "tester", "called the person back")
        ids[kind] = view.id
    result = bulk.run_all("acme", "agent")
    assert sorted(result.completed) == sorted(ids.values())
    assert scheduled == [ids["transfer"]]
    ready = [m for m in outbox.to(shop) if "is ready" in str(m["Subject"])]
    assert len(ready) == 1 and ids["access"] in str(ready[0].get_payload())
