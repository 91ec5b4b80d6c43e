"""The data request aggregate's value types: kinds, states, identities and scope."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TypeVar

from ferry.domain.errors import InvalidInput


class RequestKind(StrEnum):
    ACCESS = "access"
    TRANSFER = "transfer"
    DEVICE = "device"
    CONSENT_SHARE = "consent-share"


class RequestState(StrEnum):
    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    COLLECTING = "collecting"
    REVIEW = "review"
    READY = "ready"
    DELIVERED = "delivered"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"
    PAUSED = "paused"
    EXTENDED = "extended"


class IdentityType(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CUSTOMER_ID = "customer_id"
    ACCOUNT_ID = "account_id"
    NAME = "name"
    EMAIL_SHA256 = "email_sha256"  # hex SHA-256 of the lower-cased address (OpenDSR hashed form)


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,24}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_VALUE = 320


# C0, DEL, C1 (category Cc), surrogates (Cs) and bidi overrides: never part of a real identity
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], value: str, what: str) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"unknown {what} {value!r}; use one of: {allowed}") from None


@dataclass(frozen=True)
class Identity:
    """One way to recognise the person in a client's systems (typed value)."""

    type: IdentityType
    value: str

    @classmethod
    def parse(cls, type_: str, value: str) -> Identity:
        return cls.of(parse_enum(IdentityType, type_.strip().lower(), "identity type"), value)

    @classmethod
    def of(cls, kind: IdentityType, value: str) -> Identity:
        """:meth:`parse` for a type already known (a column's, in a data map)."""
        value = value.strip()
        if not value:
            raise InvalidInput(f"identity {kind.value} is empty")
        if len(value) > _MAX_VALUE:
            raise InvalidInput(f"identity {kind.value} is longer than {_MAX_VALUE} characters")
        if _CONTROL.search(value):
            raise InvalidInput(f"identity {kind.value} contains control characters")
        if kind is IdentityType.EMAIL:
            if not _EMAIL.match(value):
                raise InvalidInput(f"{value!r} is not an email address")
            local, _, domain = value.rpartition("@")
            value = f"{local}@{domain.lower()}"
        if kind is IdentityType.EMAIL_SHA256 and not _SHA256.match(value.lower()):
            raise InvalidInput("an email_sha256 identity is 64 hexadecimal characters")
        if kind is IdentityType.EMAIL_SHA256:
            value = value.lower()
        if kind is IdentityType.PHONE and not _PHONE.match(value):
            raise InvalidInput(f"{value!r} is not a phone number (digits, spaces, + - . ( ) /)")
        return cls(kind, value)

    @classmethod
    def parse_pair(cls, text: str) -> Identity:
        """Parse ``TYPE=VALUE`` as typed on the command line."""
        type_, sep, value = text.partition("=")
        if not sep:
            raise InvalidInput(f"identity {text!r} must look like TYPE=VALUE, e.g. email=a@b.org")
        return cls.parse(type_, value)


@dataclass(frozen=True)
class Scope:
    """What part of the person's data is asked for; empty means everything."""

    categories: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise InvalidInput(f"scope starts ({self.since}) after it ends ({self.until})")
        for cat in self.categories:
            if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*", cat):
                raise InvalidInput(f"{cat!r} is not a data category key like user.contact.email")

    @property
    def is_partial(self) -> bool:
        return bool(self.categories or self.systems or self.since or self.until)

    def covers_category(self, category: str | None) -> bool:
        """A scope category covers itself and its children (``user.contact`` covers its emails)."""
        if not self.categories:
            return True
        if category is None:
            return False
        return any(category == c or category.startswith(c + ".") for c in self.categories)

    def covers_system(self, system: str) -> bool:
        return not self.systems or system in self.systems

    def covers_date(self, when: date | None) -> bool:
        if when is None:
            return True
        if self.since and when < self.since:
            return False
        return not (self.until and when > self.until)

    def to_dict(self) -> dict[str, object]:
        return {
            "categories": list(self.categories),
            "systems": list(self.systems),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> Scope:
        data = data or {}
        since, until = data.get("since"), data.get("until")
        return cls(
            categories=tuple(str(c) for c in data.get("categories") or []),  # type: ignore[attr-defined]
            systems=tuple(str(s) for s in data.get("systems") or []),  # type: ignore[attr-defined]
            since=date.fromisoformat(str(since)) if since else None,
            until=date.fromisoformat(str(until)) if until else None,
        )


@dataclass
class DatasetRows:
    """Rows collected from one dataset of one system, with each field's data category."""

    system: str
    dataset: str
    categories: dict[str, str | None] = field(default_factory=dict)
    rows: list[dict[str, object]] = field(default_factory=list)
    # Optional hints from the data map, read by the package writers (all may be left empty):
    timestamp: str | None = None  # the field that dates each row
    model: str | None = None  # "contact" or "event" when a standard model (vCard/iCal) fits
    free_text: tuple[str, ...] = ()  # fields holding free text, where others may be named
    provenance: dict[str, str] = field(default_factory=dict)  # field -> provided|observed|derived
