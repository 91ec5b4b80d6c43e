"""Building notices: the quick path for plain ASCII and the full path for anything else must
both give a well-formed message with the same text, and refuse header injection."""

from __future__ import annotations

import random
import string
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


def _fixed_stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        mail, "formatdate", lambda localtime=False: "Mon, 30 Nov 2026 07:23:03 -0000"
    )
    monkeypatch.setattr(mail, "make_msgid", lambda domain=None: f"<1796023383.366.1@{domain}>")


@pytest.mark.parametrize(
    ("to", "subject", "body"),
    [
        ("p@example.org", "Your verification code", "Your code is 123456\n\nEnter it.\n"),
        ("p@example.org", "No newline at the end", "one\n\ntwo"),
        ("p@example.org", "Empty", ""),
        ("p@example.org", "Odd body", "From here\n\ttab\x0cfeed\x00 \n\n\n trailing  \n"),
        ("p@example.org", "Line at the limit", "x" * 998 + "\ny\n"),
        ("p@example.org", "Past the limit", "x" * 999 + "\n"),
        ("p@example.org", "CRLF body", "one\r\ntwo\rthree\n"),
        ("p@example.org", "Double  space", "body\n"),
        ("p@example.org", " leading and trailing ", "body\n"),
        ("p@example.org", "Tab\there", "body\n"),
        ("p@example.org", "=?utf-8?q?looks_encoded?=", "body\n"),
        ("p@example.org", "A subject long enough to be folded by the email package " * 2, "b\n"),
        ("Ann Other <p@example.org>", "Prêt", "Grüße\n"),
    ],
)
def test_rendered_bytes_are_those_of_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str, subject: str, body: str
) -> None:
    """The outbox's direct rendering of plain notices writes what the email package would."""
    _fixed_stamps(monkeypatch)
    settings = _settings(tmp_path)
    assert mail.render(settings, to, subject, body) == bytes(
        mail.build(settings, to, subject, body)
    )


def test_rendered_bytes_match_for_many_plain_notices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fixed_stamps(monkeypatch)
    settings = _settings(tmp_path)
    rnd = random.Random(7)
    chars = string.ascii_letters + string.digits + " .:;,<>@=?!-_/\t\n\x0c"  # 3 for bodies only
    for _ in range(1500):
        subject = "".join(rnd.choice(chars[:-3]) for _ in range(rnd.randint(0, 70)))
        body = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 200)))
        made = bytes(mail.build(settings, "p@example.org", subject, body))
        assert mail.render(settings, "p@example.org", subject, body) == made


def test_a_plain_notice_is_rendered_without_the_email_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("built with the email package")

    monkeypatch.setattr(mail, "build", refuse)
    body = "Your verification code is 123456\n\nEnter it on https://ferry.example/p/t/r/a/verify.\n"
    data = mail.render(_settings(tmp_path), "p@example.org", "Your verification code", body)
    got = _parsed(data)
    assert got["Subject"] == "Your verification code"  # type: ignore[index]
    assert got.get_content() == body  # type: ignore[attr-defined]


def test_header_injection_is_refused_when_rendered(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        mail.render(_settings(tmp_path), "p@example.org\nBcc: all@example.org", "Ready", "b\n")
