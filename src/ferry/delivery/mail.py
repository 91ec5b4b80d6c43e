"""Mail: SMTP when ``FERRY_SMTP_URL`` is set, otherwise ``.eml`` files in ``var/outbox/``."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ferry.domain.clock import utcnow
from ferry.settings import Settings


def build(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
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


def _outbox(folder: Path, msg: EmailMessage) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(bytes(msg))
    return tmp.replace(folder / name)


def _smtp(url: str, msg: EmailMessage) -> None:
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
