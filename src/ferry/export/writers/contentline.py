"""Content lines shared by vCard 4.0 (RFC 6350) and iCalendar (RFC 5545): escaping, folding."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter

from ferry.export.writers.columns import Columns, Piece

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


def _slicer(count: int) -> Callable[[str], tuple[str, ...]]:
    """The pieces of a folded ASCII line of ``count`` pieces, cut in one C call."""
    first = [slice(0, _LIMIT)]
    rest = [slice(_LIMIT + 74 * k, _LIMIT + 74 * (k + 1)) for k in range(count - 1)]
    return itemgetter(*first, *rest)


_SLICERS = [_slicer(count) for count in range(2, 18)]  # lines of 76 to 1,259 characters


def _fold_ascii(line: str) -> str:
    """A long ASCII line folded: 75 characters, then 74 per continuation line."""
    count = (len(line) - 2) // (_LIMIT - 1)  # continuation lines
    if count <= len(_SLICERS):
        return "\r\n ".join(_SLICERS[count - 1](line))
    pieces = [line[i : i + _LIMIT - 1] for i in range(_LIMIT, len(line), _LIMIT - 1)]
    return "\r\n ".join([line[:_LIMIT], *pieces])


def line_text(line: str) -> str:
    """One content line with its CRLF, folded when longer than 75 octets (as ``fold``)."""
    if line.isascii():
        return line + "\r\n" if len(line) <= _LIMIT else _fold_ascii(line) + "\r\n"
    return fold(line).decode("utf-8")


# --- column-wise content lines ---------------------------------------------------------------
#
# The vCard and iCalendar writers build a chunk of cards or events at a time, one column per
# property value, so that the checks (does anything need escaping, is every line ASCII and
# short enough not to fold) run once over a column in C instead of once per value in Python.
# A column that fails a check takes the per-value path (``escape``, ``line_text``), which is
# what the writers did for every value before; the bytes are the same either way.


def plain(text: str) -> bool:
    """Whether ``escape`` leaves the text as it is."""
    return _SPECIAL.search(text) is None


def escape_column(values: list[str]) -> list[str]:
    """``escape`` of every value; one scan of the column when nothing needs escaping."""
    return values if plain("".join(values)) else list(map(escape, values))


class Chunk(Columns):
    """The content lines of ``size`` cards or events, property by property.

    ``add`` takes one line per row as pieces: constant text and columns (one value per row,
    already escaped); ``column`` takes whole lines (with CRLF, or ``""`` for none).
    """

    def add(self, pieces: Sequence[Piece], skip: list[bool] | None = None) -> None:
        """One content line per row (none where ``skip`` is true), folded where needed."""
        columns = [p for p in pieces if not isinstance(p, str)]
        width = sum(len(p) for p in pieces if isinstance(p, str))
        width += sum(max(map(len, c), default=0) for c in columns)
        short = width <= _LIMIT and all("".join(c).isascii() for c in columns)
        if short and skip is None:
            self.parts.extend(pieces)
            self.parts.append("\r\n")
            return
        cells = zip(*self.iterables(pieces), strict=True)
        finish = (lambda line: line + "\r\n") if short else line_text
        if skip is None:
            self.parts.append([finish("".join(cell)) for cell in cells])
        else:
            rows = zip(skip, cells, strict=True)
            self.parts.append(["" if s else finish("".join(c)) for s, c in rows])


def encode(text: str) -> bytes:
    return text.encode("utf-8", "replace")
