"""Data request repository. Every lookup names the tenant, except by the unguessable id."""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from ferry.domain.errors import NotFound
from ferry.store import txn
from ferry.store.tables import Package, Request, VerificationCode

_TERMINAL = ("delivered", "closed", "rejected", "withdrawn")

_BY_ID = select(Request).where(Request.id == bindparam("request_id"))
_GET = {  # (identities, tenant named): built once (see store.tenants)
    (True, False): _BY_ID,
    (False, False): _BY_ID.options(lazyload(Request.identities)),
    (True, True): _BY_ID.where(Request.tenant_id == bindparam("tenant_id")),
    (False, True): _BY_ID.options(lazyload(Request.identities)).where(
        Request.tenant_id == bindparam("tenant_id")
    ),
}


def get(
    session: Session, request_id: str, tenant_id: int | None = None, *, identities: bool = True
) -> Request:
    """A request by id; with ``tenant_id``, one of that tenant's only (others look absent).

    ``identities=False`` leaves the identities to be read on first use, for a caller that most
    often does not need them (a second ``SELECT`` spared)."""
    query = _GET[identities, tenant_id is not None]
    params = {"request_id": request_id, "tenant_id": tenant_id}
    found = session.scalars(query, params).one_or_none()
    if found is None:
        raise NotFound(f"no request {request_id!r}", code="request_not_found")
    return found


def many(
    session: Session, request_ids: list[str], tenant_id: int, *, lock: bool = False
) -> dict[str, Request]:
    """The tenant's requests with these ids, by id, in one query (identities in one more);
    ``lock``: the rows locked until the transaction ends, taken in id order, re-read."""
    found: dict[str, Request] = {}
    for chunk in txn.id_chunks(sorted(request_ids) if lock else request_ids):
        query = select(Request).where(Request.id.in_(chunk), Request.tenant_id == tenant_id)
        if lock:
            query = query.order_by(Request.id).with_for_update()
            query = query.execution_options(populate_existing=True)
        found.update((r.id, r) for r in session.scalars(query))
    return found


def list_for_tenant(
    session: Session, tenant_id: int, state: str | None = None, overdue_on: date | None = None
) -> list[Request]:
    query = select(Request).where(Request.tenant_id == tenant_id)
    if state:
        query = query.where(Request.state == state)
    if overdue_on:
        query = query.where(Request.due_date < overdue_on, Request.state.not_in(_TERMINAL))
    return list(session.scalars(query.order_by(Request.due_date, Request.created_at)))


def open_code(session: Session, request_id: str) -> VerificationCode | None:
    query = (
        select(VerificationCode)
        .where(
            VerificationCode.request_id == request_id,
            VerificationCode.used_at.is_(None),
            VerificationCode.superseded.is_(False),
        )
        .order_by(VerificationCode.id.desc())
        .with_for_update()
    )
    return session.scalars(query).first()


def all_codes(session: Session, request_id: str) -> list[VerificationCode]:
    query = select(VerificationCode).where(VerificationCode.request_id == request_id)
    return list(session.scalars(query))


def latest_package(session: Session, request_id: str) -> Package | None:
    query = select(Package).where(Package.request_id == request_id).order_by(Package.id.desc())
    return session.scalars(query).first()
