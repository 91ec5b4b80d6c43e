"""One value as text, the same way in every text format (CSV, XML, HTML, vCard, iCalendar).

Dates and times are ISO-8601, decimals exact and never in exponent form, bytes base64,
nested values (objects, lists) compact JSON, ``None`` the empty string. JSON keeps its own
types (see ``jsonenc``); everything else uses :func:`to_text`.
"""

from __future__ import annotations

import base64
import enum
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from ferry.export.jsonenc import dumps, iso_duration

TYPE_ORDER: Final = ("integer", "number", "boolean", "datetime", "date", "time", "duration")


def decimal_text(value: Decimal) -> str:
    """Exact decimal text without an exponent (``1E+2`` becomes ``100``)."""
    if not value.is_finite():
        return str(value)
    return format(value, "f")


def float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value)


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


_EXACT: dict[type, Callable[[Any], str]] = {
    str: str,
    int: str,
    type(None): lambda _v: "",
    bool: _bool_text,
    float: float_text,
    Decimal: decimal_text,
    datetime: datetime.isoformat,
    date: date.isoformat,
    time: time.isoformat,
}


def to_text(value: object) -> str:
    """The text form of one collected value (see the module docstring)."""
    exact = _EXACT.get(type(value))
    if exact is not None:  # the common types, by one dictionary look-up
        return exact(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict | list | tuple | set | frozenset):
        return dumps(value)
    if isinstance(value, enum.Enum):
        return to_text(value.value)
    return str(value)  # UUID, paths and anything else with a plain text form


def value_type(value: object) -> str | None:
    """The Table Schema type of one value (``None`` for a missing value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, Decimal):
        return "number" if value.is_finite() else "string"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, timedelta):
        return "duration"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "string"


def merge_types(a: str | None, b: str | None) -> str | None:
    """The type of a column that holds values of types ``a`` and ``b``."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"integer", "number"}:
        return "number"
    return "string"
