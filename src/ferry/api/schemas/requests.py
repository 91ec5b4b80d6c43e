"""Bodies of the request routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ferry.services.views import RequestView, StatusView


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=30, examples=["email"])
    value: str = Field(max_length=320, examples=["ana@example.org"])


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str] = Field(default_factory=list, max_length=50)
    systems: list[str] = Field(default_factory=list, max_length=50)
    since: date | None = None
    until: date | None = None


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(examples=["access"], max_length=20)
    identities: list[IdentityIn] = Field(min_length=1, max_length=10)
    jurisdiction: str | None = Field(default=None, max_length=10, examples=["EU-DE"])
    scope: ScopeIn | None = None
    recipient: str | None = Field(default=None, max_length=100, description="transfer: who")
    consent: str | None = Field(default=None, max_length=32, description="consent-share: id")
    formats: list[str] | None = Field(
        default=None, max_length=10, examples=[["json", "csv", "html"]]
    )


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=20)


class AttestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(min_length=1, max_length=200)
    note: str = Field(min_length=5, max_length=2000)


class VerifiedOut(BaseModel):
    state: str
    access_token: str


class PackageOut(BaseModel):
    sha256: str
    size: int
    files: list[dict[str, Any]]
    created_at: datetime
    downloads: int
    signed_by: str | None = None
    redactions: dict[str, int] | None = None


class RequestRead(BaseModel):
    id: str
    tenant: str
    kind: str
    state: str
    jurisdiction: str
    received_at: datetime
    due_date: date
    scope: dict[str, Any]
    channel: str
    identities: list[dict[str, str]]
    verification_locked: bool
    verified_method: str | None
    failure: str | None
    package: PackageOut | None
    events: list[dict[str, Any]]
    clock: dict[str, Any] | None = None
    waiting_for: list[dict[str, Any]] = Field(
        default_factory=list,
        description="manual systems' upload tasks still open (system, owner, state, due_date, "
        "overdue): the request stays collecting until they are uploaded",
    )

    @classmethod
    def of(cls, view: RequestView) -> RequestRead:
        return cls.model_validate(view, from_attributes=True)


class SubmittedOut(BaseModel):
    """What the person learns on submitting: no echo of their identities."""

    id: str
    state: str
    due_date: date
    status_url: str


class StatusOut(BaseModel):
    id: str
    state: str
    due_date: date
    verification_locked: bool
    download_ready: bool

    @classmethod
    def of(cls, view: StatusView) -> StatusOut:
        return cls.model_validate(view, from_attributes=True)


class LinkOut(BaseModel):
    url: str
    expires_at: datetime
