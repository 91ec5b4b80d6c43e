"""Building notices: the quick path for plain ASCII and the full path for anything else must
both give a well-formed message with the same text, and refuse header injection."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from ferry.delivery import mail
from ferry.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path, mail_from="Ferry <privacy@ferry.localhost>")


def _parsed(msg: object) -> object:
    return message_from_bytes(bytes(msg), policy=policy.default)  # type: ignore[call-overload]


def test_ascii_notice_reads_back(tmp_path: Path) -> None:
    body = "Your copy is ready.\n\nOpen https://ferry.example/p/t/r/abc to download it.\n"
    got = _parsed(mail.build(_settings(tmp_path), "p@example.org", "Your data is ready", body))
    assert got["To"] == "p@example.org"  # type: ignore[index]
    assert got["Subject"] == "Your data is ready"  # type: ignore[index]
    assert got["From"] == "Ferry <privacy@ferry.localhost>"  # type: ignore[index]
    assert got["Message-ID"].endswith("@ferry.localhost>")  # type: ignore[index]
    assert got.get_content() == body  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Vos données chez Müller sont prêtes", "Ouvrez le lien.\n"),
        ("Ready", "Grüße aus Köln — your copy is ready.\n"),
        ("Ready", "x" * 2000 + "\n"),  # past the line limit: needs an encoding
    ],
)
def test_other_notices_take_the_full_path(tmp_path: Path, subject: str, body: str) -> None:
    got = _parsed(mail.build(_settings(tmp_path), "p@example.org", subject, body))
    assert got["Subject"] == subject  # type: ignore[index]
    assert got.get_content() == body  # type: ignore[attr-defined]
    assert all(len(line) <= 998 for line in bytes(got).splitlines())  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("p@example.org\r\nBcc: all@example.org", "Ready"),
        ("p@example.org", "Ready\nBcc: all@example.org"),
        ("p@example.org", "Ready\rX-Evil: 1"),
    ],
)
def test_header_injection_is_refused(tmp_path: Path, to: str, subject: str) -> None:
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        mail.build(_settings(tmp_path), to, subject, "body\n")


def test_outbox_recreated_when_cleared(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = Path(mail.send(settings, "p@example.org", "One", "one\n"))
    for f in first.parent.iterdir():
        f.unlink()
    first.parent.rmdir()
    second = Path(mail.send(settings, "p@example.org", "Two", "two\n"))
    assert second.exists() and second.parent == first.parent
    assert _parsed(second.read_bytes())["Subject"] == "Two"  # type: ignore[index]
