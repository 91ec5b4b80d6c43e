"""The relational schema. Alembic revisions in ``ferry/migrations`` must match it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ferry.domain.audit import GENESIS
from ferry.domain.clock import utcnow


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    jurisdictions: Mapped[list[Any]] = mapped_column(default=list)
    review_required: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_email: Mapped[str | None] = mapped_column(String(320))
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default=GENESIS)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    default_formats: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    known_people: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # for redaction


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20), default="agent", server_default="supervisor")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class System(Base):
    __tablename__ = "systems"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    datamap: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    credentials: Mapped[str | None] = mapped_column(Text)  # encrypted (crypto.secretbox)


class Request(Base):
    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30), index=True)
    resume_state: Mapped[str | None] = mapped_column(String(30))
    jurisdiction: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel: Mapped[str] = mapped_column(String(20), default="api")
    verification_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_method: Mapped[str | None] = mapped_column(String(30))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    failure: Mapped[str | None] = mapped_column(Text)
    formats: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    # while collecting: the worker running it renews this (services.leases); past it with the
    # request still collecting, that worker is taken for dead. None: nobody is working on it.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    identities: Mapped[list[RequestIdentity]] = relationship(
        back_populates="request", order_by="RequestIdentity.id", lazy="selectin"
    )


class RequestIdentity(Base):
    __tablename__ = "request_identities"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(320))
    request: Mapped[Request] = relationship(back_populates="identities")


class VerificationCode(Base):
    __tablename__ = "verification_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(
        String(30), default="email-code", server_default="email-code"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)


class Package(Base):
    __tablename__ = "packages"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    files: Mapped[list[Any]] = mapped_column(default=list)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    encryption: Mapped[str | None] = mapped_column(String(40))  # None: stored as plain zip
    signed_by: Mapped[str | None] = mapped_column(String(16))  # signing key id
    redactions: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # counts


class AuditEvent(Base):
    """Append-only. No foreign keys: nothing deleted elsewhere may cascade into the trail."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class RequestVerification(Base):
    """What level of certainty a request needs, what it reached, and the risk signals seen."""

    __tablename__ = "request_verification"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    required_level: Mapped[int] = mapped_column(Integer, default=1)
    achieved_level: Mapped[int] = mapped_column(Integer, default=0)
    signals: Mapped[list[Any]] = mapped_column(default=list)
    methods: Mapped[list[Any]] = mapped_column(default=list)


class VerificationEvidence(Base):
    """How a person was verified: method, time, level, names of matched points; never values."""

    __tablename__ = "verification_evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    method: Mapped[str] = mapped_column(String(30))
    level: Mapped[int] = mapped_column(Integer)
    points: Mapped[list[Any]] = mapped_column(default=list)
    actor: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VerificationDocument(Base):
    """An uploaded identity document: sealed on disk until decided, then deleted."""

    __tablename__ = "verification_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)
    decisions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuthorizedAgent(Base):
    """Someone acting for the person, with the permission they showed and the person's answer."""

    __tablename__ = "authorized_agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    permission_sha256: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(200))
    signed_on: Mapped[date] = mapped_column(Date)
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)


class TotpEnrolment(Base):
    """A person's authenticator secret, sealed, found by a keyed hash of their identity."""

    __tablename__ = "totp_enrolments"
    __table_args__ = (UniqueConstraint("tenant_id", "identity_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    identity_hash: Mapped[str] = mapped_column(String(64))
    secret_sealed: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VerificationPolicy(Base):
    """Which methods and level a tenant wants for a request kind and jurisdiction ("*": any)."""

    __tablename__ = "verification_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "jurisdiction"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    jurisdiction: Mapped[str] = mapped_column(String(10))
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AttemptCounter(Base):
    """A fixed-window counter for rate limits and failed attempts; ``key`` is a keyed hash."""

    __tablename__ = "attempt_counters"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class TenantSla(Base):
    """A tenant's clock settings: its time zone, internal target, reminders and escalation."""

    __tablename__ = "tenant_sla"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    internal_days: Mapped[int | None] = mapped_column(Integer)
    reminders: Mapped[list[Any]] = mapped_column(default=list)
    escalate_at: Mapped[float] = mapped_column(Float, default=1.0)
    supervisor_email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class RequestClock(Base):
    """The statutory clock of one request: pauses, extension, reminders already sent."""

    __tablename__ = "request_clocks"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    received_local: Mapped[date] = mapped_column(Date)
    statutory_due: Mapped[date] = mapped_column(Date)
    acknowledge_by: Mapped[date | None] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    internal_due: Mapped[date | None] = mapped_column(Date)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    paused_since: Mapped[datetime | None] = mapped_column(DateTime)
    pause_reason: Mapped[str | None] = mapped_column(String(30))
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    extended_until: Mapped[date | None] = mapped_column(Date)
    paused_days_at_extension: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_notice_at: Mapped[datetime | None] = mapped_column(DateTime)
    over_limit: Mapped[str | None] = mapped_column(Text)
    reminders_sent: Mapped[list[Any]] = mapped_column(default=list)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime)


class CollectionSystem(Base):
    """How collecting one system for one request went: the gap report, one row per system."""

    __tablename__ = "collection_systems"
    __table_args__ = (UniqueConstraint("request_id", "system"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    system: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


# --- delivery and transfer (issue 7) -------------------------------------------------------------


class DeliverySettings(Base):
    """A tenant's delivery policy; a tenant without a row uses the defaults in the services."""

    __tablename__ = "delivery_settings"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    link_ttl_hours: Mapped[int] = mapped_column(Integer, default=168)
    max_downloads: Mapped[int] = mapped_column(Integer, default=10)
    retention_days: Mapped[int] = mapped_column(Integer, default=30)


class Recipient(Base):
    """A receiving provider the tenant knows: an SFTP or HTTPS endpoint with its keys."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(30))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    country: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RequestRecipient(Base):
    """The recipient a transfer request names (one per request)."""

    __tablename__ = "request_recipients"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id"), index=True)


class Delivery(Base):
    """One hand-over of a package (or a notice) through a channel, with its receipt."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"))
    channel: Mapped[str] = mapped_column(String(30))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class PackagePurge(Base):
    """A package file removed after the tenant's retention period (the row stays, the file goes)."""

    __tablename__ = "package_purges"
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), primary_key=True)
    purged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(200))


class OpenDsrLink(Base):
    """An OpenDSR request: the controller's id, its callback URLs and the Ferry request."""

    __tablename__ = "opendsr_links"
    subject_request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), unique=True)
    request_type: Mapped[str] = mapped_column(String(30))
    callback_urls: Mapped[list[Any]] = mapped_column(default=list)
    api_version: Mapped[str] = mapped_column(String(10), default="3.0")
    submitted_time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Consent(Base):
    """What the person agreed to share, with whom, for what, until when, and how it was given."""

    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject: Mapped[str] = mapped_column(String(320))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    method: Mapped[str] = mapped_column(String(60))
    proof: Mapped[str] = mapped_column(Text, default="")


class RequestConsent(Base):
    """The consent a consent-share request runs under (one per request)."""

    __tablename__ = "request_consents"
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)


class TenantKey(Base):
    """A tenant's signing key or package key; the secret part encrypted under the settings
    secret (``services.keys``). Retired keys stay, so old packages still open and verify."""

    __tablename__ = "tenant_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "purpose", "key_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # "signing" or "packages"
    key_id: Mapped[str] = mapped_column(String(16))
    public: Mapped[str | None] = mapped_column(Text)  # base64 raw public key (signing keys)
    secret: Mapped[str] = mapped_column(Text)  # base64 of the wrapped secret
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)


class ManualTask(Base):
    """A manual system's upload task for one request: its owner uploads the person's records."""

    __tablename__ = "manual_tasks"
    __table_args__ = (UniqueConstraint("request_id", "system"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    system: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    due_date: Mapped[date] = mapped_column(Date)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending/uploaded/expired
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dataset -> {path, rows, sha256}
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime)
