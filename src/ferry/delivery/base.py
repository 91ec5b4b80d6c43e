"""Delivery channels: a small protocol every channel implements, and what it hands back.

A channel moves one package (a file with a known size and SHA-256) to one place and answers with a
:class:`Receipt`, or raises :class:`DeliveryError`. ``retryable`` says whether trying again later
can help (peer down, timeout) or not (wrong host key, refused login, full disk): the delivery
service retries the first kind with backoff and fails the second at once with the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from ferry.crypto.httpsig import SigningKey
from ferry.domain.errors import FerryError


@dataclass(frozen=True)
class Shipment:
    """One package on its way: the file, its digest, and the key that makes a resend harmless."""

    request_id: str
    tenant: str
    path: Path
    sha256: str
    size: int
    filename: str
    idempotency_key: str
    signing_key: SigningKey | None = None  # the tenant's HTTP-signing key, for channels that sign


@dataclass(frozen=True)
class Receipt:
    """What the far side confirmed: where the package went and what it acknowledged."""

    channel: str
    location: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "location": self.location, **self.detail}


class DeliveryError(FerryError):
    """A delivery did not happen. ``retryable`` decides between a retry and a failed state."""

    code = "delivery_failed"
    status = 502

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = True):
        super().__init__(message, code=code)
        self.retryable = retryable


class Channel(Protocol):
    """A way to hand a package over. ``name`` keys the registry."""

    name: ClassVar[str]

    def deliver(self, shipment: Shipment) -> Receipt: ...


class ChannelConfig(BaseModel):
    """Base of every channel's configuration (stored as JSON on the recipient)."""

    model_config = {"extra": "forbid"}
