"""Verification repository: open codes per method, documents, enrolments, agents."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ferry.domain.errors import NotFound
from ferry.store import txn
from ferry.store.tables import (
    AttemptCounter,
    AuthorizedAgent,
    RequestVerification,
    TotpEnrolment,
    VerificationCode,
    VerificationDocument,
)

_PROFILE = select(RequestVerification).where(RequestVerification.request_id == bindparam("key"))
_COUNTER = select(AttemptCounter).where(AttemptCounter.key == bindparam("key"))


def profile(session: Session, request_id: str) -> RequestVerification | None:
    """The request's verification progress (``session.get``, its statement built once)."""
    return txn.by_key(session, _PROFILE, RequestVerification, request_id)


def counter(session: Session, key: str) -> AttemptCounter | None:
    """An attempt counter, not locked (``session.get``, its statement built once)."""
    return txn.by_key(session, _COUNTER, AttemptCounter, key)


def open_codes(session: Session, request_id: str, method: str) -> list[VerificationCode]:
    """Unused, unsuperseded codes of one method, newest first, locked for update."""
    query = (
        select(VerificationCode)
        .where(
            VerificationCode.request_id == request_id,
            VerificationCode.method == method,
            VerificationCode.used_at.is_(None),
            VerificationCode.superseded.is_(False),
        )
        .order_by(VerificationCode.id.desc())
        .with_for_update()
    )
    return list(session.scalars(query))


def document(session: Session, request_id: str, doc_id: int) -> VerificationDocument:
    query = select(VerificationDocument).where(
        VerificationDocument.id == doc_id, VerificationDocument.request_id == request_id
    )
    found = session.scalars(query.with_for_update()).one_or_none()
    if found is None:
        raise NotFound(f"no document {doc_id} on this request", code="document_not_found")
    return found


def documents(session: Session, request_id: str) -> list[VerificationDocument]:
    query = select(VerificationDocument).where(VerificationDocument.request_id == request_id)
    return list(session.scalars(query.order_by(VerificationDocument.id)))


def enrolment(session: Session, tenant_id: int, identity_hash: str) -> TotpEnrolment | None:
    query = select(TotpEnrolment).where(
        TotpEnrolment.tenant_id == tenant_id, TotpEnrolment.identity_hash == identity_hash
    )
    return session.scalars(query.with_for_update()).one_or_none()


def latest_agent(session: Session, request_id: str) -> AuthorizedAgent | None:
    query = select(AuthorizedAgent).where(AuthorizedAgent.request_id == request_id)
    return session.scalars(query.order_by(AuthorizedAgent.id.desc())).first()
