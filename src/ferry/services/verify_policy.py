"""Verification policy and progress: what a request needs, what it reached, the evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Forbidden, InvalidInput
from ferry.domain.models import RequestKind, RequestState, parse_enum
from ferry.jurisdictions import rule_for
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.store import requests, tenants, txn
from ferry.store import verification as verification_store
from ferry.store.tables import (
    Request,
    RequestVerification,
    VerificationEvidence,
    VerificationPolicy,
)
from ferry.verify import registry
from ferry.verify.base import Level, Outcome, VerificationMethod
from ferry.verify.policy import (
    SIGNALS,
    PolicyRules,
    initial_signals,
    required_level,
)

_POLICIES = select(VerificationPolicy).where(VerificationPolicy.tenant_id == bindparam("tenant_id"))
"""A tenant's policies (built once: making the statement cost as much as running it)."""


def rules_for(session: Session, tenant_id: int, kind: str, jurisdiction: str) -> PolicyRules:
    """The most specific policy: (kind, jurisdiction), (kind, *), (*, jurisdiction), (*, *).
    Read once per transaction (policies are set in transactions of their own)."""
    held = txn.memo(session)
    key = ("verify_policy.rules", tenant_id, kind, jurisdiction)
    if key not in held:
        held[key] = _rules_for(session, tenant_id, kind, jurisdiction)
    rules: PolicyRules = held[key]
    return rules


def _rules_for(session: Session, tenant_id: int, kind: str, jurisdiction: str) -> PolicyRules:
    with session.no_autoflush:  # policies are not written with requests: no flush for them
        rows = [*session.scalars(_POLICIES, {"tenant_id": tenant_id})]
    rows += [p for p in txn.pending(session, VerificationPolicy) if p.tenant_id == tenant_id]
    found = {(p.kind, p.jurisdiction): p for p in rows}
    for key in ((kind, jurisdiction), (kind, "*"), ("*", jurisdiction), ("*", "*")):
        if key in found:
            return PolicyRules.model_validate(found[key].rules)
    return PolicyRules()


def profile(session: Session, req: Request) -> RequestVerification:
    """The request's verification progress, made on first use from the policy in force."""
    held = txn.memo(session)  # kept for the transaction: the session holds rows only weakly
    key = ("verify_policy.profile", req.id)
    prof: RequestVerification | None = held.get(key)
    if prof is not None and prof in session:
        return prof
    prof = None
    if ("request.new", req.id) not in held:  # a request made in this transaction has none yet
        prof = verification_store.profile(session, req.id)
    if prof is None:
        rules = rules_for(session, req.tenant_id, req.kind, req.jurisdiction)
        signals = initial_signals(req.kind)
        prof = RequestVerification(
            request_id=req.id,
            required_level=int(required_level(rules, req.jurisdiction, signals)),
            achieved_level=0,
            signals=signals,
            methods=rules.methods or registry.names(),
        )
        session.add(prof)  # written with the next flush
    held[key] = prof
    return prof


def method_for(session: Session, req: Request, name: str) -> VerificationMethod:
    """The configured method, if the policy allows it for this request."""
    prof = profile(session, req)
    if name not in prof.methods:
        raise Forbidden(
            f"{name} is not accepted for this request; use one of: {', '.join(prof.methods)}",
            code="method_not_allowed",
        )
    rules = rules_for(session, req.tenant_id, req.kind, req.jurisdiction)
    return registry.method(name, rules.config.get(name))


def grant(
    session: Session,
    req: Request,
    method: str,
    outcome: Outcome,
    actor: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Keep the evidence (names of points, never values); verify once the level is reached.

    One audit event either way: ``request.verified`` when this reaches the required level,
    ``verification.passed`` when more is still needed (or the request was verified before).
    """
    prof = profile(session, req)
    details = {k: v for k, v in outcome.details.items() if isinstance(v, int | bool | str)}
    session.add(
        VerificationEvidence(
            request_id=req.id,
            method=method,
            level=int(outcome.level),
            points=list(outcome.points),
            actor=actor,
            details=details,
        )
    )
    prof.achieved_level = max(prof.achieved_level, int(outcome.level))
    data = {
        "method": method,
        "level": int(outcome.level),
        "points": list(outcome.points),
        "required": prof.required_level,
        **(extra or {}),
    }
    enough = prof.achieved_level >= prof.required_level
    if enough and awaiting_verification(req):
        req.verified_method, req.verified_at = method, utcnow()
        req.verification_locked = False
        move(session, req, RequestState.VERIFIED, actor, data)
    else:
        record(session, req.tenant_id, actor, "verification.passed", req.id, data)


def awaiting_verification(req: Request) -> bool:
    """Waiting for identity, or paused while waiting for it (verifying ends the pause)."""
    return req.state == RequestState.AWAITING_VERIFICATION or (
        req.state == RequestState.PAUSED and req.resume_state == RequestState.AWAITING_VERIFICATION
    )


@dataclass(frozen=True)
class Progress:
    state: str
    required_level: int
    achieved_level: int
    signals: list[str]
    methods: list[str]
    locked: bool
    evidence: list[dict[str, Any]]
    asks: list[str]


def progress(request_id: str, tenant_id: int | None = None, *, evidence: bool = False) -> Progress:
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        prof = profile(session, req)
        rows = []
        if evidence:
            query = select(VerificationEvidence).where(VerificationEvidence.request_id == req.id)
            rows = [
                {
                    "method": e.method,
                    "level": e.level,
                    "points": e.points,
                    "actor": e.actor,
                    "at": e.at.isoformat(),
                    "details": e.details,
                }
                for e in session.scalars(query.order_by(VerificationEvidence.id))
            ]
        asks: list[str] = []
        if "knowledge" in prof.methods:
            rules = rules_for(session, req.tenant_id, req.kind, req.jurisdiction)
            kba = registry.method("knowledge", rules.config.get("knowledge"))
            asks = [p.name for p in getattr(kba.config, "points", [])]
        return Progress(
            req.state,
            prof.required_level,
            prof.achieved_level,
            list(prof.signals),
            list(prof.methods),
            req.verification_locked,
            rows,
            asks,
        )


def report_signals(
    request_id: str, signals: list[str], actor: str, tenant_id: int | None
) -> Progress:
    """A client or agent reports risk: the required level is raised, never lowered."""
    unknown = sorted(set(signals) - set(SIGNALS))
    if unknown or not signals:
        raise InvalidInput(f"risk signals must be some of: {', '.join(SIGNALS)}")
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        prof = profile(session, req)
        rules = rules_for(session, req.tenant_id, req.kind, req.jurisdiction)
        prof.signals = sorted({*prof.signals, *signals})
        raised = int(required_level(rules, req.jurisdiction, prof.signals))
        prof.required_level = max(prof.required_level, raised)
        record(
            session,
            req.tenant_id,
            actor,
            "verification.risk",
            req.id,
            {"signals": prof.signals, "required_level": prof.required_level},
        )
    return progress(request_id, tenant_id)


def set_policy(
    tenant_slug: str, kind: str, jurisdiction: str, rules: dict[str, Any], actor: str
) -> PolicyRules:
    if kind != "*":
        parse_enum(RequestKind, kind, "request kind")
    if jurisdiction != "*":
        jurisdiction = rule_for(jurisdiction).code
    try:
        parsed = PolicyRules.model_validate(rules)
        for name in parsed.methods or []:
            registry.method(name, parsed.config.get(name))
        for name, cfg in parsed.config.items():
            registry.method(name, cfg)
    except ValidationError as err:
        raise InvalidInput(f"the policy is not valid: {err}") from None
    if parsed.methods == []:
        raise InvalidInput("a policy must allow at least one method")
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        query = select(VerificationPolicy).where(
            VerificationPolicy.tenant_id == tenant.id,
            VerificationPolicy.kind == kind,
            VerificationPolicy.jurisdiction == jurisdiction,
        )
        row = session.scalars(query).one_or_none()
        stored = parsed.model_dump(mode="json", exclude_defaults=True)
        if row is None:
            session.add(
                VerificationPolicy(
                    tenant_id=tenant.id, kind=kind, jurisdiction=jurisdiction, rules=stored
                )
            )
        else:
            row.rules = stored
        record(
            session,
            tenant.id,
            actor,
            "verification.policy_set",
            data={"kind": kind, "jurisdiction": jurisdiction, "rules": stored},
        )
    return parsed


def level_name(level: int) -> str:
    return Level(level).name.lower()
