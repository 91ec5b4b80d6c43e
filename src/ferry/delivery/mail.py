"""Mail: SMTP when ``FERRY_SMTP_URL`` is set, otherwise ``.eml`` files in ``var/outbox/``."""

from __future__ import annotations

import re
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
    msg["Message-ID"] = make_msgid(domain=_DOMAIN)
    return msg


_MAX_LINE = 998  # RFC 5322; longer lines need an encoding, which the full path chooses


def _full(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=_DOMAIN)
    msg.set_content(body)
    return msg


def render(settings: Settings, to: str, subject: str, body: str) -> bytes:
    """``bytes(build(...))``, as the outbox keeps it. A plain notice (every header a single
    line of printable ASCII words, an ASCII body of short lines without carriage returns: all
    of Ferry's own) is written out directly, the same bytes without the email package's header
    folding and generator, which cost several times more; anything else goes through them."""
    date, msgid = formatdate(localtime=False), make_msgid(domain=_DOMAIN)
    head = [("From", settings.mail_from), ("To", to), ("Subject", subject)]
    head += [("Date", date), ("Message-ID", msgid)]
    plain = all(len(k) + 2 + len(v) <= _MAX_HEADER and _PLAIN.fullmatch(v) for k, v in head)
    lines = body.split("\n")
    if not plain or not body.isascii() or "\r" in body or any(len(x) > _MAX_LINE for x in lines):
        return bytes(build(settings, to, subject, body))
    return "".join([_PLAIN_HEAD, *(f"{k}: {v}\n" for k, v in head), "\n", body]).encode()


_DOMAIN = "ferry.localhost"
_MAX_HEADER = 78  # the email package folds longer header lines
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")  # words of printable ASCII, single spaces
_PLAIN_HEAD = (
    'Content-Type: text/plain; charset="us-ascii"\nMIME-Version: 1.0\n'
    "Content-Transfer-Encoding: 7bit\n"
)
"""The headers ``MIMEText(body, "plain", "us-ascii")`` starts with, as it writes them."""


def send(settings: Settings, to: str, subject: str, body: str) -> str:
    """Send one message; returns where it went (``smtp`` or the outbox file path)."""
    if settings.smtp_url:
        _smtp(settings.smtp_url, build(settings, to, subject, body))
        return "smtp"
    return str(_outbox(settings.outbox_dir, render(settings, to, subject, body)))


def _outbox(folder: Path, data: bytes) -> Path:
    name = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
    tmp = folder / f".{name}.tmp"
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
