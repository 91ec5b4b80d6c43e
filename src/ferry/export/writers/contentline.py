"""Content lines shared by vCard 4.0 (RFC 6350) and iCalendar (RFC 5545): escaping, folding."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ferry.export.jsonenc import BytesSink

_LIMIT = 75  # octets per line, not counting CRLF
_SPECIAL = re.compile("[\\\\,;\x00-\x1f\x7f]")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def escape(text: str) -> str:
    """Escape a text value: backslash, comma, semicolon and newlines."""
    if not _SPECIAL.search(text):
        return text
    text = text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub(" ", text)


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def fold(line: str) -> bytes:
    """One content line as UTF-8, folded at 75 octets without splitting a character."""
    raw = line.encode("utf-8", "replace")
    if len(raw) <= _LIMIT:
        return raw + b"\r\n"
    parts, start, limit = [], 0, _LIMIT
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # do not cut inside a character
            end -= 1
        parts.append(raw[start:end])
        start, limit = end, _LIMIT - 1  # continuation lines start with a space
    return b"\r\n ".join(parts) + b"\r\n"


def unfold(text: str) -> list[str]:
    """Content lines of a document, continuation lines joined."""
    lines: list[str] = []
    for line in text.split("\r\n"):
        if line.startswith((" ", "\t")) and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    return lines


def block(lines: Iterable[str]) -> bytes:
    """Content lines as UTF-8 with CRLF; only lines longer than 75 octets are folded."""
    lines = list(lines)
    if not lines:
        return b""
    text = "\r\n".join(lines)
    if text.isascii():  # the usual case: one octet per character, fold long lines by slicing
        if max(map(len, lines)) > _LIMIT:
            text = "\r\n".join(
                [line if len(line) <= _LIMIT else _fold_ascii(line) for line in lines]
            )
        return (text + "\r\n").encode("ascii")
    parts = []
    for line in lines:
        if not line.isascii():
            parts.append(fold(line).decode("utf-8"))
        elif len(line) <= _LIMIT:
            parts.append(line + "\r\n")
        else:
            parts.append(_fold_ascii(line) + "\r\n")
    return "".join(parts).encode("utf-8", "replace")


def _fold_ascii(line: str) -> str:
    """A long ASCII line folded: 75 characters, then 74 per continuation line."""
    pieces = [line[i : i + _LIMIT - 1] for i in range(_LIMIT, len(line), _LIMIT - 1)]
    return "\r\n ".join([line[:_LIMIT], *pieces])


def write_blocks(sink: BytesSink, blocks: Iterable[bytes], size: int = 1 << 16) -> int:
    """Write blocks (cards, events) about ``size`` bytes at a time; returns how many."""
    out = bytearray()
    count = 0
    for item in blocks:
        out += item
        count += 1
        if len(out) >= size:
            sink.write(bytes(out))
            out.clear()
    if out:
        sink.write(bytes(out))
    return count
