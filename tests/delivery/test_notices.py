"""Email notices through a real SMTP server (aiosmtpd): the person hears what they must know and
gets a link; no personal data is ever in the body."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from ferry.db import unit_of_work
from ferry.domain.models import RequestState
from ferry.services import requests
from ferry.services.lifecycle import move
from ferry.settings import reset_settings
from ferry.store import requests as request_store
from tests.delivery.conftest import ready_request
from tests.integration.test_mail import Sink, free_port


@pytest.fixture
def smtp(shop: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("FERRY_SMTP_URL", f"smtp://127.0.0.1:{port}")
    reset_settings()
    yield sink
    controller.stop()


def mails(sink: Sink, to: str) -> list[tuple[str, str]]:
    found = []
    for env in sink.messages:
        if to in env.rcpt_tos:
            msg = message_from_bytes(env.content)
            body = msg.get_payload(decode=True)
            assert isinstance(body, bytes)
            found.append((str(msg["Subject"]), body.decode()))
    return found


def assert_no_personal_data(body: str, email: str) -> None:
    assert email not in body
    assert email.split("@")[0] not in body


def test_ready_and_extension_and_withdrawal_notices(smtp: Sink, shop: str) -> None:
    rid = ready_request(shop, kind="access")
    with unit_of_work() as session:
        req = request_store.get(session, rid)
        move(session, req, RequestState.REVIEW, "agent")
    from ferry.services import extension

    extension.extend(rid, "agent", "nine systems to search")
    requests.withdraw(rid, "agent", "the person asked")
    got = mails(smtp, shop)
    subjects = [s for s, _ in got]
    assert any("is ready" in s for s in subjects)
    assert any("more time" in s.lower() for s in subjects)
    assert any("withdrawn" in s for s in subjects)
    for _, body in got:
        if "code is" in body:
            continue  # the verification code mail (not a notice)
        assert f"/p/acme/r/{rid}" in body
        assert_no_personal_data(body, shop)
    extended = [b for s, b in got if "more time" in s.lower()]
    assert len(extended) == 1 and "nine systems to search" in extended[0]  # the law asks why


def test_transfer_notice_names_the_recipient_only(smtp: Sink, shop: str, tmp_path: Path) -> None:
    from ferry.services import recipients
    from tests.delivery.peers import sftp_peer

    with sftp_peer(tmp_path) as peer:
        recipients.add(
            "acme",
            "bank",
            "sftp",
            {
                "url": f"sftp://bob@127.0.0.1:{peer.port}/inbox",
                "host_key": peer.host_key_line,
                "key_file": str(peer.client_key_file),
            },
            country="DE",
        )
        rid = ready_request(shop, recipient="bank")
    assert requests.show(rid).state == "delivered"
    got = mails(smtp, shop)
    sent = [b for s, b in got if "was sent" in s]
    assert len(sent) == 1 and "to bank" in sent[0]
    assert not any("is ready" in s for s, _ in got)  # no download notice for a transfer
    assert_no_personal_data(sent[0], shop)
