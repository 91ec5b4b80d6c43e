"""Mail: SMTP when ``FERRY_SMTP_URL`` is set, otherwise ``.eml`` files in ``var/outbox/``."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ferry.domain.clock import utcnow
from ferry.settings import Settings


def build(settings: Settings, to: str, subject: str, body: str) -> Message:
    """The message. Plain ASCII notices (all of Ferry's own) are built directly, which costs a
    quarter of the full :class:`EmailMessage` treatment; anything else goes through it."""
    head = (settings.mail_from, to, subject)
    if any("\r" in v or "\n" in v for v in head):
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    if not all(v.isascii() for v in (*head, body)) or any(
        len(line) > _MAX_LINE for line in body.splitlines()
    ):
        return _full(settings, to, subject, body)
    msg = MIMEText(body, "plain", "us-ascii")
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="ferry.localhost")
    return msg


_MAX_LINE = 998  # RFC 5322; longer lines need an encoding, which the full path chooses


def _full(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="ferry.localhost")
    msg.set_content(body)
    return msg


def send(settings: Settings, to: str, subject: str, body: str) -> str:
    """Send one message; returns where it went (``smtp`` or the outbox file path)."""
    msg = build(settings, to, subject, body)
    if settings.smtp_url:
        _smtp(settings.smtp_url, msg)
        return "smtp"
    return str(_outbox(settings.outbox_dir, msg))


def _outbox(folder: Path, msg: Message) -> Path:
    name = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    tmp = folder / f".{name}.tmp"
    data = bytes(msg)
    try:
        tmp.write_bytes(data)
    except FileNotFoundError:  # the first message, or the folder was cleared
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
    return tmp.replace(folder / name)


def _smtp(url: str, msg: Message) -> None:
    parts = urlsplit(url)
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 25)
    host = parts.hostname or "localhost"
    client: smtplib.SMTP = (
        smtplib.SMTP_SSL(host, port, timeout=30) if secure else smtplib.SMTP(host, port, timeout=30)
    )
    with client:
        if not secure and "starttls" in parts.query:
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(msg)
