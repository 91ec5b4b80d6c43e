"""Rows written a batch at a time, column by column.

The text writers (CSV, XML, vCard, iCalendar) turn a batch of rows into text one column at a
time: a column whose values are all of one common type is converted with one ``map`` and
checked for anything that needs escaping with one scan in C, and only a column that fails a
check goes value by value. :class:`Columns` then joins constant text and columns row by row
in a single C call. The bytes are the same as writing value by value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, repeat
from typing import Any

from ferry.export.values import decimal_text, to_text

Piece = str | list[str]  # constant text, or one text per row

_TEXT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    Decimal: decimal_text,
    datetime: datetime.isoformat,
    date: date.isoformat,
}


def text_column(values: list[Any]) -> list[str]:
    """``to_text`` of every value (``None`` is the empty string)."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind is str:
            return values
        convert = _TEXT.get(kind)
        if convert is not None:
            return list(map(convert, values))
    return [v if type(v) is str else to_text(v) for v in values]


class Columns:
    """The text of ``size`` rows, from pieces: constant text, or a list of one text per row."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts: list[Piece] = []

    def const(self, text: str) -> None:
        self.parts.append(text)

    def column(self, texts: list[str]) -> None:
        self.parts.append(texts)

    def text(self) -> str:
        """Every row's pieces in order, the rows one after another."""
        merged: list[Piece] = []
        for part in self.parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            else:
                merged.append(part)
        return "".join(chain.from_iterable(zip(*self.iterables(merged), strict=True)))

    def iterables(self, pieces: Sequence[Piece]) -> list[Iterable[str]]:
        return [repeat(p, self.size) if isinstance(p, str) else p for p in pieces]
