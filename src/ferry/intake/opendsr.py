"""OpenDSR messages: the request body a controller sends, and how it maps onto Ferry.

Pure: parsing, validation and mapping only (the service does the rest). See ``docs/opendsr.md``
for the choices made where the specification is unclear, and what is accepted in both forms.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ferry.delivery.outbound import kind_of
from ferry.domain.errors import FerryError, InvalidInput
from ferry.domain.models import Identity, IdentityType, RequestState

API_VERSION = "3.0"
SUPPORTED_TYPES = ("access", "portability")
# (OpenDSR identity_type, identity_format) -> Ferry identity type
IDENTITY_MAP: dict[tuple[str, str], IdentityType] = {
    ("email", "raw"): IdentityType.EMAIL,
    ("email", "sha256"): IdentityType.EMAIL_SHA256,
    ("phone_number", "raw"): IdentityType.PHONE,
    ("controller_customer_id", "raw"): IdentityType.CUSTOMER_ID,
    ("account_id", "raw"): IdentityType.ACCOUNT_ID,
}
# Ferry state -> OpenDSR request_status
STATUS: dict[RequestState, str] = {
    RequestState.RECEIVED: "pending",
    RequestState.AWAITING_VERIFICATION: "pending",
    RequestState.PAUSED: "pending",
    RequestState.VERIFIED: "pending",
    RequestState.COLLECTING: "in_progress",
    RequestState.REVIEW: "in_progress",
    RequestState.EXTENDED: "in_progress",
    RequestState.FAILED: "in_progress",
    RequestState.READY: "completed",
    RequestState.DELIVERED: "completed",
    RequestState.CLOSED: "completed",
    RequestState.REJECTED: "cancelled",
    RequestState.WITHDRAWN: "cancelled",
}
MAX_CALLBACKS = 5


class OutOfScope(FerryError):
    code = "unsupported_request_type"
    status = 400


class SubjectIdentity(BaseModel):
    model_config = ConfigDict(extra="ignore")
    identity_type: str = Field(max_length=60)
    identity_value: str = Field(max_length=320)
    identity_format: str = Field(default="raw", max_length=20)


class OpenDsrRequest(BaseModel):
    """The body of a new request (OpenDSR 2.x/3.0 and the OpenGDPR 1.x fields, which match)."""

    model_config = ConfigDict(extra="ignore")
    subject_request_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    subject_request_type: str = Field(max_length=30)
    submitted_time: datetime
    subject_identities: list[SubjectIdentity] = Field(min_length=1, max_length=10)
    api_version: str = Field(default=API_VERSION, max_length=10)
    status_callback_urls: list[str] = Field(default_factory=list, max_length=MAX_CALLBACKS)
    regulation: Literal["gdpr", "ccpa", "lgpd", "uk_gdpr"] | None = None
    property_id: str | None = Field(default=None, max_length=200)
    extensions: dict[str, Any] | None = None

    @field_validator("status_callback_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2000:
                raise ValueError(f"{url[:100]!r}: callback URLs must be https URLs")
        return urls


def check_callback_urls(urls: list[str], allow_loopback_http: bool) -> None:
    """Callbacks go to the controller's public endpoints: https, not to an internal address
    written as an IP (plain http to loopback only when the operator allows it, for tests)."""
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        internal = _internal(host)
        if parts.scheme == "http" and not (allow_loopback_http and internal == "loopback"):
            raise InvalidInput(f"{url[:100]!r}: callback URLs must be https")
        if parts.scheme == "https" and internal and not allow_loopback_http:
            raise InvalidInput(f"{url[:100]!r}: callbacks cannot go to an internal address")


def _internal(host: str) -> str | None:
    if host == "localhost":
        return "loopback"
    try:
        return kind_of(host)
    except ValueError:  # a name, not an address: checked when the callback is sent
        return None


def check_type(request_type: str) -> str:
    if request_type == "erasure":
        raise OutOfScope(
            "erasure is out of scope for this processor: Ferry answers access and portability "
            "requests only. Send erasure requests to the system that holds the data."
        )
    if request_type not in SUPPORTED_TYPES:
        raise OutOfScope(
            f"subject_request_type {request_type!r} is not supported; use access or portability"
        )
    return request_type


def map_identities(found: list[SubjectIdentity]) -> list[Identity]:
    """Map every identity; an unknown type or format is refused with what is supported."""
    mapped = []
    for item in found:
        fmt = item.identity_format.lower()
        key = (item.identity_type.lower(), fmt)
        if key not in IDENTITY_MAP:
            supported = ", ".join(f"{t}/{f}" for t, f in IDENTITY_MAP)
            raise InvalidInput(
                f"identity {item.identity_type}/{item.identity_format} is not supported; "
                f"use one of: {supported}"
            )
        mapped.append(Identity.parse(IDENTITY_MAP[key].value, item.identity_value))
    return mapped


def email_sha256(address: str) -> str:
    """The hashed form a controller sends: SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def status_of(state: str) -> str:
    return STATUS[RequestState(state)]


def discovery(certificate_url: str) -> dict[str, Any]:
    return {
        "api_version": API_VERSION,
        "supported_identities": [
            {"identity_type": t, "identity_format": f} for (t, f) in IDENTITY_MAP
        ],
        "supported_subject_request_types": list(SUPPORTED_TYPES),
        "processor_certificate": certificate_url,
    }
