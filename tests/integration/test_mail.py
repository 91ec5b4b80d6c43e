"""Mail goes through a real SMTP server when FERRY_SMTP_URL is set, else to the outbox."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ferry.domain.models import Identity
from ferry.services import audit, requests, tenants
from ferry.settings import reset_settings


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(ferry_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("FERRY_SMTP_URL", f"smtp://127.0.0.1:{port}")
    reset_settings()
    yield sink
    controller.stop()


def test_code_goes_by_smtp(smtp: Sink, ferry_env: Path) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    view = requests.submit("acme", "access", [Identity.parse("email", "ana@example.org")])
    assert len(smtp.messages) == 1
    envelope = smtp.messages[0]
    assert envelope.rcpt_tos == ["ana@example.org"]
    msg = message_from_bytes(envelope.content)
    assert "Your code" in msg["Subject"]
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes) and f"/p/acme/r/{view.id}/verify".encode() in body
    assert not (ferry_env / "outbox").exists()


def test_smtp_down_is_recorded_and_request_kept(
    ferry_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    reset_settings()
    tenants.create_tenant("acme", "Acme", ["EU-DE"])
    view = requests.submit("acme", "access", [Identity.parse("email", "ana@example.org")])
    shown = requests.show(view.id)
    assert shown.state == "awaiting_verification"
    failed = [e for e in shown.events if e["action"] == "notice.failed"]
    assert failed and failed[0]["data"]["purpose"] == "verification_code"
    assert audit.verify_tenant("acme").ok
