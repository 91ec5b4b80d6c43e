"""Steps that need an agent: document review, authorized agents and agent attestation."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from ferry.crypto.box import seal, unseal
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict, Forbidden, IllegalTransition, InvalidInput
from ferry.domain.models import IdentityType
from ferry.services import verify_codes, verify_guard
from ferry.services.audit import record
from ferry.services.verify_policy import (
    awaiting_verification,
    grant,
    method_for,
    profile,
    rules_for,
)
from ferry.settings import get_settings
from ferry.store import audit as chain
from ferry.store import clocks, requests
from ferry.store import verification as store
from ferry.store.tables import AuthorizedAgent, Request, Tenant, VerificationDocument
from ferry.verify.agents import AgentAttested
from ferry.verify.base import Attempt, Level
from ferry.verify.document import SEP, DocumentReview

_DOC_SEAL = "identity-document"
MAX_PENDING = 3


@dataclass(frozen=True)
class DocumentView:
    id: int
    status: str
    content_type: str
    size: int
    approvals_needed: int
    decisions: list[dict[str, object]]
    stored: bool


def _view(d: VerificationDocument) -> DocumentView:
    return DocumentView(
        d.id,
        d.status,
        d.content_type,
        d.size,
        d.approvals_needed,
        list(d.decisions),
        d.path is not None,
    )


def _folder(tenant: Tenant, req: Request) -> Path:
    return get_settings().var_dir / "documents" / tenant.slug / req.id


def upload(request_id: str, data: bytes, client: str | None) -> DocumentView:
    """Seal the document on disk and queue it for review."""
    with unit_of_work() as session:
        req = requests.get(session, request_id)
        verify_guard.refuse_if_locked(session, req, client)
        method = method_for(session, req, "document")
        assert isinstance(method, DocumentReview)
        kind = method.sniff(data)
        pending = [d for d in store.documents(session, req.id) if d.status == "pending"]
        if len(pending) >= MAX_PENDING:
            raise Conflict(
                "documents already wait for review; we will write to you", code="too_many_documents"
            )
        tenant = session.get_one(Tenant, req.tenant_id)
        rules = rules_for(session, req.tenant_id, req.kind, req.jurisdiction)
        needed = 2 if profile(session, req).required_level >= rules.second_reviewer_from else 1
        folder = _folder(tenant, req)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}.sealed"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(seal(get_settings().secret(), _DOC_SEAL, data))
        tmp.replace(path)
        doc = VerificationDocument(
            request_id=req.id,
            path=str(path),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            content_type=kind,
            approvals_needed=needed,
            decisions=[],
        )
        session.add(doc)
        session.flush()
        record(
            session,
            req.tenant_id,
            "subject",
            "verification.document_uploaded",
            req.id,
            {
                "document": doc.id,
                "sha256": doc.sha256,
                "bytes": doc.size,
                "type": kind,
                "approvals_needed": needed,
            },
        )
        return _view(doc)


def list_documents(request_id: str, tenant_id: int | None) -> list[DocumentView]:
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        return [_view(d) for d in store.documents(session, req.id)]


def content(request_id: str, doc_id: int, tenant_id: int | None, actor: str) -> tuple[bytes, str]:
    """The document for a reviewer (audited); gone once decided."""
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        doc = store.document(session, req.id, doc_id)
        if doc.path is None:
            raise Conflict("this document was decided and deleted", code="document_deleted")
        data = unseal(get_settings().secret(), _DOC_SEAL, Path(doc.path).read_bytes())
        record(
            session,
            req.tenant_id,
            actor,
            "verification.document_viewed",
            req.id,
            {"document": doc.id},
        )
        return data, doc.content_type


def decide(
    request_id: str, doc_id: int, approve: bool, reason: str, actor: str, tenant_id: int | None
) -> DocumentView:
    """One reviewer's decision; on the final one the file is deleted and the evidence kept."""
    if len(reason.strip()) < 3:
        raise InvalidInput("give a reason for the decision (at least 3 characters)")
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        doc = store.document(session, req.id, doc_id)
        if doc.status != "pending":
            raise Conflict(f"this document is already {doc.status}", code="already_decided")
        if any(d["actor"] == actor for d in doc.decisions):
            raise Conflict("a second reviewer must be someone else", code="same_reviewer")
        doc.decisions = [
            *doc.decisions,
            {
                "actor": actor,
                "approve": approve,
                "reason": reason.strip()[:500],
                "at": utcnow().isoformat(),
            },
        ]
        record(
            session,
            req.tenant_id,
            actor,
            "verification.document_reviewed",
            req.id,
            {"document": doc.id, "approve": approve},
        )
        _settle(session, req, doc)
        return _view(doc)


def _settle(session: Session, req: Request, doc: VerificationDocument) -> None:
    method = method_for(session, req, "document")
    approved = SEP.join(d["actor"] for d in doc.decisions if d["approve"])
    rejected = SEP.join(d["actor"] for d in doc.decisions if not d["approve"])
    answer = {"approved_by": approved, "rejected_by": rejected}
    outcome = method.check(Attempt(req.id, "", answer, {"needed": str(doc.approvals_needed)}))
    if not (outcome.passed or rejected):
        return
    doc.status = "approved" if outcome.passed else "rejected"
    doc.decided_at = utcnow()
    if doc.path:
        Path(doc.path).unlink(missing_ok=True)
    doc.path, doc.deleted_at = None, utcnow()
    record(
        session,
        req.tenant_id,
        "system",
        "verification.document_deleted",
        req.id,
        {"document": doc.id, "decision": doc.status},
    )
    if outcome.passed:
        reviewers = ",".join(sorted(approved.split(SEP)))
        grant(session, req, "document", outcome, f"review:{reviewers}"[:200])


def register_agent(
    request_id: str,
    name: str,
    kind: str,
    signed_by: str,
    signed_on: date,
    permission: bytes,
    actor: str,
    tenant_id: int | None = None,
) -> None:
    """Record an authorized agent's signed permission, then ask the person directly."""
    if kind not in ("person", "company"):
        raise InvalidInput("an authorized agent is a person or a company")
    if not name.strip() or not signed_by.strip():
        raise InvalidInput("name the agent and who signed the permission")
    if not permission:
        raise InvalidInput("attach the signed permission")
    if signed_on > date.today():
        raise InvalidInput("the permission cannot be signed in the future")
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        verify_guard.refuse_if_locked(session, req, None)
        method_for(session, req, "authorized-agent")
        row = AuthorizedAgent(
            request_id=req.id,
            name=name.strip()[:200],
            kind=kind,
            permission_sha256=hashlib.sha256(permission).hexdigest(),
            signed_by=signed_by.strip()[:200],
            signed_on=signed_on,
            submitted_by=actor[:200],
        )
        session.add(row)
        record(
            session,
            req.tenant_id,
            actor,
            "verification.agent_authorised",
            req.id,
            {
                "agent": row.name,
                "kind": kind,
                "permission_sha256": row.permission_sha256,
                "signed_on": signed_on.isoformat(),
            },
        )
        tenant = session.get_one(Tenant, req.tenant_id)
        intro = (
            f"{row.name} asked {tenant.name} for your personal data on your behalf. If you "
            "gave them permission, confirm it with the code below. If not, ignore this "
            "message and nothing will be sent.\n\n"
        )
        if verify_codes.contact(req, IdentityType.EMAIL) is None:
            raise InvalidInput(
                "the person must be reachable by email to confirm directly", code="no_contact"
            )
        verify_codes.issue(session, tenant, req, "authorized-agent", intro)


def confirm_agent(
    session: Session,
    req: Request,
    answer: dict[str, str],
    client: str | None,
    now: datetime | None = None,
) -> verify_codes.Result:
    agent = store.latest_agent(session, req.id)
    if agent is None:
        raise Conflict("no authorized agent is registered on this request", code="no_agent")
    result = verify_codes.check(
        session,
        req,
        "authorized-agent",
        answer,
        client,
        points=("signed_permission", "person_confirmed"),
        now=now,
    )
    if result.outcome is not None:
        agent.confirmed_at = utcnow()
        record(
            session,
            req.tenant_id,
            "subject",
            "verification.agent_confirmed",
            req.id,
            {"agent": agent.name, "permission_sha256": agent.permission_sha256},
        )
    return result


def attest(
    request_id: str,
    agent: str,
    note: str,
    role: str,
    tenant_id: int | None = None,
    level: int | None = None,
) -> None:
    """An agent verified the person another way and says how; only roles the policy allows."""
    if not agent.strip():
        raise InvalidInput("name the agent who verified the person")
    if len(note.strip()) < 5:
        raise InvalidInput("say how you verified the person (a note of at least 5 characters)")
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id, identities=False)
        if not awaiting_verification(req):
            raise IllegalTransition(
                f"a request that is {req.state} cannot be attested; it is not awaiting verification"
            )
        method = method_for(session, req, "agent")
        assert isinstance(method, AgentAttested)
        if not method.allowed(role):
            raise Forbidden(
                f"the role {role!r} may not attest identity; ask a supervisor",
                code="role_not_allowed",
            )
        want = level if level is not None else profile(session, req).required_level
        answer = {"role": role, "note": note, "level": str(max(want, int(Level.LOW)))}
        outcome = method.check(Attempt(req.id, "", answer))
        if not outcome.passed:
            raise InvalidInput("the attestation was not accepted; say how you verified")
        actor = f"agent:{agent.strip()}"[:200]
        # Read and lock what verifying touches before anything changes, so that no read has
        # pending changes to flush first: the attempt counter, the clock, then the chain.
        verify_guard.reset_request(session, req)
        clocks.clock_for(session, req.id, lock=True)
        chain.lock_chain(session, req.tenant_id)
        req.verification_locked = False
        grant(session, req, "agent", outcome, actor, {"note": note.strip()[:2000], "role": role})
