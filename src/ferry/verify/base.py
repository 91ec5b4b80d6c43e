"""The verification method protocol: check what the person (or an agent) answered.

A method is pure apart from what it is handed: the service loads what Ferry holds for the
comparison (a code's keyed hash, a sealed TOTP secret opened, candidate values from the
client's records, a decoy when there is nothing) into an :class:`Attempt`, and the method says
whether it passed, at which level, and which data points matched (names only, never values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel


class Level(IntEnum):
    """How sure Ferry is that the person is who the request names."""

    NONE = 0
    LOW = 1  # holds a contact point or device on record (email, phone, authenticator)
    REASONABLE = 2  # CCPA "reasonable degree of certainty": two matching data points
    HIGH = 3  # CCPA "reasonably high degree": three points and a signed declaration


@dataclass(frozen=True)
class Attempt:
    """One check: what was answered, and what Ferry holds to compare it with."""

    request_id: str
    secret: str
    answer: Mapping[str, str]
    expected: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    passed: bool
    level: Level = Level.NONE
    points: tuple[str, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)


@runtime_checkable
class VerificationMethod(Protocol):
    """One way of proving identity. ``name`` is its registry key, ``config`` its settings."""

    name: ClassVar[str]
    max_level: ClassVar[Level]

    @property
    def config(self) -> BaseModel:
        """The method's validated settings."""
        ...

    def check(self, attempt: Attempt) -> Outcome:
        """Compare ``attempt.answer`` with ``attempt.expected`` in constant time."""
        ...
