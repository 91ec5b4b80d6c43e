"""Request use-cases: submit, look up, list, approve, withdraw."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import InvalidInput, NotFound
from ferry.domain.models import Identity, IdentityType, RequestKind, RequestState, Scope, parse_enum
from ferry.export.writers import parse_formats
from ferry.jurisdictions import rule_for
from ferry.services import clock, consents, notify, recipients, uploads, verification
from ferry.services.audit import events_for, record
from ferry.services.lifecycle import move
from ferry.services.views import RequestView, StatusView
from ferry.store import audit as chain
from ferry.store import requests, tenants, txn
from ferry.store.tables import Request, RequestIdentity, Tenant

MAX_IDENTITIES = 10
_MAY_WAIT = ("collecting", "failed", "review", "ready", "paused", "extended")
"""States in which a request can have manual upload tasks open (shown with it)."""


def submit(
    tenant_slug: str,
    kind: str,
    identities: Sequence[Identity],
    *,
    jurisdiction: str | None = None,
    scope: Scope | None = None,
    channel: str = "api",
    actor: str = "subject",
    recipient: str | None = None,
    send_code: bool = True,
    consent: str | None = None,
    formats: Sequence[str] | str | None = None,
) -> RequestView:
    """Take a request in, compute its due date, acknowledge it and start verification."""
    kind_ = parse_enum(RequestKind, kind, "request kind")
    if not identities:
        raise InvalidInput("a request needs at least one identity, e.g. email=person@example.org")
    if len(identities) > MAX_IDENTITIES:
        raise InvalidInput(f"at most {MAX_IDENTITIES} identities per request")
    with unit_of_work() as session:
        # Every submission appends to the tenant's chain: lock it first, while nothing is
        # pending, so that the lock needs no flush and the appends reuse the row.
        tenant = chain.lock_chain_by_slug(session, tenant_slug)
        code = _jurisdiction(tenant, jurisdiction)
        received = utcnow()
        req = Request(
            id=secrets.token_hex(16),
            tenant_id=tenant.id,
            kind=kind_.value,
            state=RequestState.RECEIVED.value,
            jurisdiction=code,
            received_at=received,
            # due_date: set by clock.start below, from the day of receipt in the tenant's zone
            scope=(scope or Scope()).to_dict(),
            channel=channel,
            formats=list(parse_formats(formats)) if formats else None,
        )
        req.identities = [
            RequestIdentity(type=i.type.value, value=i.value) for i in dict.fromkeys(identities)
        ]
        session.add(req)  # written with the next flush (at the latest the commit)
        txn.memo(session)[("request.new", req.id)] = True  # made in this transaction
        clock.start(session, tenant, req)
        record(
            session,
            tenant.id,
            actor,
            "request.received",
            req.id,
            {
                "kind": kind_.value,
                "jurisdiction": code,
                "channel": channel,
                "due_date": req.due_date.isoformat(),
                "rule": rule_for(code).citation,
                "identity_types": sorted({i.type.value for i in identities}),
            },
        )
        if recipient:
            recipients.attach(session, tenant.id, req, recipient, actor)
        if consent:
            consents.bind(session, tenant.id, req, consent, actor)
        elif kind_ is RequestKind.CONSENT_SHARE:
            record(
                session,
                tenant.id,
                "system",
                "consent.missing",
                req.id,
                {"note": "nothing is shared until a consent is attached"},
            )
        move(session, req, RequestState.AWAITING_VERIFICATION, "system")
        email = next((i.value for i in identities if i.type is IdentityType.EMAIL), None)
        if email and send_code:
            verification.issue_code(session, tenant, req, email)
        elif send_code:  # without a code the caller verifies (e.g. the controller, by OpenDSR)
            record(
                session,
                tenant.id,
                "system",
                "verification.agent_needed",
                req.id,
                {"reason": "no email identity to send a code to"},
            )
        return RequestView.of(req, tenant.slug)


def _jurisdiction(tenant: Tenant, code: str | None) -> str:
    if code:
        return rule_for(code).code
    if tenant.jurisdictions:
        return str(tenant.jurisdictions[0])
    raise InvalidInput("say which jurisdiction applies, e.g. EU-DE, GB or US-CA")


def load(session: Session, request_id: str, tenant_id: int | None) -> tuple[Request, Tenant]:
    req = requests.get(session, request_id, tenant_id)
    return req, session.get_one(Tenant, req.tenant_id)


def show(request_id: str, tenant_id: int | None = None, *, with_events: bool = True) -> RequestView:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        view = RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        waits = uploads.open_tasks(session, [req.id] if req.state in _MAY_WAIT else [])
        view = replace(view, clock=clock.summary(session, req), waiting_for=waits.get(req.id, []))
        if with_events:
            view.events.extend(
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "data": e.data,
                }
                for e in events_for(session, tenant.id, req.id)
            )
        return view


def status(request_id: str) -> StatusView:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        ready = req.state in (RequestState.READY, RequestState.DELIVERED)
        return StatusView(
            req.id, tenant.slug, req.state, req.due_date, req.verification_locked, ready
        )


def list_requests(
    tenant_slug: str, state: str | None = None, overdue: bool = False
) -> list[RequestView]:
    if state:
        parse_enum(RequestState, state, "state")
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        found = requests.list_for_tenant(
            session, tenant.id, state, date.today() if overdue else None
        )
        waiting = uploads.open_tasks(session, [r.id for r in found if r.state in _MAY_WAIT])
        return [
            replace(RequestView.of(r, tenant.slug), waiting_for=waiting.get(r.id, []))
            for r in found
        ]


def approve(request_id: str, actor: str, tenant_id: int | None = None) -> RequestView:
    """The reviewer's second pair of eyes: review -> ready."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        if requests.latest_package(session, req.id) is None:
            raise NotFound(
                "there is no package to approve; run the collection first", code="no_package"
            )
        move(session, req, RequestState.READY, actor, {"approved_by": actor})
        notify.package_ready(session, req, tenant.slug, tenant.name)
        return RequestView.of(req, tenant.slug)


def withdraw(request_id: str, actor: str, reason: str, tenant_id: int | None = None) -> RequestView:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        move(session, req, RequestState.WITHDRAWN, actor, {"reason": reason})
        return RequestView.of(req, tenant.slug)
