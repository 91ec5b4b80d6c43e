"""Cross-border transfer check other services call before sending data abroad.

``check`` decides from the request's jurisdiction and records the basis; a transfer needing a
supervisor waits for ``approve``, which records who approved it and on what basis.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.errors import Conflict
from ferry.jurisdictions import rule_for
from ferry.jurisdictions.transfers import Outcome, decide
from ferry.services.audit import events_for, record
from ferry.store import requests
from ferry.store.tables import Request


@dataclass(frozen=True)
class TransferCheck:
    request_id: str
    country: str
    outcome: str
    basis: str
    citation: str


def check_in(
    session: Session, req: Request, country: str, safeguard: str | None, actor: str
) -> TransferCheck:
    """For callers already inside a unit of work (delivery, collection)."""
    found = decide(rule_for(req.jurisdiction), country, safeguard)
    data = {
        "country": country.upper(),
        "outcome": found.outcome.value,
        "basis": found.basis,
        "citation": found.citation,
    }
    record(session, req.tenant_id, actor, "transfer.checked", req.id, data)
    return TransferCheck(req.id, country.upper(), found.outcome.value, found.basis, found.citation)


def check(
    request_id: str, country: str, safeguard: str | None, actor: str, tenant_id: int | None = None
) -> TransferCheck:
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        return check_in(session, req, country, safeguard, actor)


def approve(
    request_id: str, country: str, supervisor: str, basis: str, tenant_id: int | None = None
) -> TransferCheck:
    """A supervisor allows a transfer that the check referred to them."""
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        dest = country.strip().upper()
        asked = [
            e
            for e in events_for(session, req.tenant_id, req.id)
            if e.action == "transfer.checked" and e.data.get("country") == dest
        ]
        if not asked or asked[-1].data.get("outcome") != Outcome.SUPERVISOR.value:
            raise Conflict(
                f"no transfer to {dest} is waiting for a supervisor; run the check first "
                "(a blocked transfer needs a safeguard)",
                code="nothing_to_approve",
            )
        if len(basis.strip()) < 10:
            raise Conflict(
                "say on what basis you approve (at least 10 characters)", code="reason_required"
            )
        record(
            session,
            req.tenant_id,
            supervisor,
            "transfer.approved",
            req.id,
            {"country": dest, "basis": basis.strip()[:500]},
        )
        return TransferCheck(
            req.id,
            dest,
            Outcome.ALLOWED.value,
            basis.strip()[:500],
            str(asked[-1].data.get("citation", "")),
        )


def approved(session: Session, req: Request, country: str) -> bool:
    """Whether a supervisor approved a transfer of this request to ``country``."""
    dest = country.strip().upper()
    return any(
        e.action == "transfer.approved" and e.data.get("country") == dest
        for e in events_for(session, req.tenant_id, req.id)
    )
