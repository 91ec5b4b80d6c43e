"""/api/v1 verification routes. Every one is rate-limited per client address (store-backed)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response

from ferry.api.deps import Caller, MaybeCaller, Token, check_tenant
from ferry.api.errors import ERROR_RESPONSES
from ferry.api.schemas.verify import (
    AnsweredOut,
    AnswerIn,
    AuthorizedAgentIn,
    CodeOnly,
    DecisionIn,
    DocumentOut,
    EnrolOut,
    PolicyIn,
    ProgressOut,
    RiskIn,
)
from ferry.domain.errors import Forbidden, InvalidInput
from ferry.services import verification, verify_facts, verify_guard, verify_policy, verify_review
from ferry.services.tenants import authenticate

RESPONSES = {  # 423/429 take the shape (and error model) of the common entries
    **ERROR_RESPONSES,
    423: {**ERROR_RESPONSES[422], "description": "Locked after too many failed attempts"},
    429: {**ERROR_RESPONSES[422], "description": "Too many calls from this address; wait"},
}
MAX_DOCUMENT = 10 * 1024 * 1024


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limited(family: str) -> Callable[[Request], str]:
    def dependency(request: Request) -> str:
        client = client_of(request)
        verify_guard.throttle(client, family)
        return client

    return dependency


Client = Annotated[str, Depends(limited("verify"))]
router = APIRouter(tags=["verification"], responses=RESPONSES)


def _progress(request_id: str, tenant_id: int | None, full: bool) -> ProgressOut:
    p = verify_policy.progress(request_id, tenant_id, evidence=full)
    return ProgressOut(
        state=p.state,
        required_level=p.required_level,
        achieved_level=p.achieved_level,
        methods=p.methods,
        locked=p.locked,
        asks=p.asks,
        signals=p.signals if full else None,
        evidence=p.evidence if full else None,
    )


@router.get("/requests/{request_id}/verification", response_model=ProgressOut)
def verification_progress(request_id: str, who: MaybeCaller, _: Client) -> ProgressOut:
    """Which level the request needs and which methods it accepts; evidence for the tenant."""
    return _progress(request_id, who.tenant_id if who else None, who is not None)


@router.post("/requests/{request_id}/verify/{method}/start", status_code=202)
def start_method(request_id: str, method: str, client: Client) -> dict[str, str]:
    """Send a code (email-code, sms-code) or a sign-in link (magic-link) to the person."""
    verification.start(request_id, method, client)
    return {"status": "sent"}


@router.post("/requests/{request_id}/verify/{method}", response_model=AnsweredOut)
def answer_method(request_id: str, method: str, body: AnswerIn, client: Client) -> AnsweredOut:
    """Answer a method: email-code, magic-link, sms-code, totp, knowledge, authorized-agent."""
    done = verification.answer(request_id, method, body.fields(), client)
    return AnsweredOut(**asdict(done))


def _subject_or_tenant(request_id: str, token: str | None) -> tuple[int | None, str]:
    if token and token.startswith("fk_"):
        who = authenticate(token)
        return who.tenant_id, who.actor
    if token and verification.subject_allowed(token, request_id):
        return None, "subject"
    raise Forbidden(
        "sign in with your code first (or use the tenant's API key)", code="not_signed_in"
    )


@router.post("/requests/{request_id}/totp/enrol", response_model=EnrolOut)
def totp_enrol(request_id: str, token: Token, _: Client) -> EnrolOut:
    """Start enrolling an authenticator app for the account on this (verified) request."""
    tenant_id, actor = _subject_or_tenant(request_id, token)
    done = verify_facts.enrol(request_id, tenant_id, actor)
    return EnrolOut(secret=done.secret, uri=done.uri)


@router.post("/requests/{request_id}/totp/confirm", status_code=204)
def totp_confirm(request_id: str, body: CodeOnly, token: Token, _: Client) -> Response:
    tenant_id, actor = _subject_or_tenant(request_id, token)
    verify_facts.confirm_enrolment(request_id, tenant_id, body.code, actor)
    return Response(status_code=204)


@router.post("/requests/{request_id}/documents", status_code=201, response_model=DocumentOut)
async def upload_document(
    request_id: str, client: Client, file: UploadFile = File(...)
) -> DocumentOut:
    """Upload an identity document (PDF, JPEG or PNG); it is sealed until reviewed."""
    data = await file.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise InvalidInput("the file is larger than 10 MB; upload a smaller scan")
    return DocumentOut(**asdict(verify_review.upload(request_id, data, client)))


@router.get("/requests/{request_id}/documents", response_model=list[DocumentOut])
def list_documents(request_id: str, who: Caller) -> list[DocumentOut]:
    return [
        DocumentOut(**asdict(d)) for d in verify_review.list_documents(request_id, who.tenant_id)
    ]


@router.get("/requests/{request_id}/documents/{doc_id}/content")
def document_content(request_id: str, doc_id: int, who: Caller) -> Response:
    data, kind = verify_review.content(request_id, doc_id, who.tenant_id, who.actor)
    return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})


@router.post("/requests/{request_id}/documents/{doc_id}/decision", response_model=DocumentOut)
def decide_document(request_id: str, doc_id: int, body: DecisionIn, who: Caller) -> DocumentOut:
    done = verify_review.decide(
        request_id, doc_id, body.approve, body.reason, who.actor, who.tenant_id
    )
    return DocumentOut(**asdict(done))


@router.post("/requests/{request_id}/authorized-agent", status_code=202)
def authorized_agent(
    request_id: str, body: AuthorizedAgentIn, who: MaybeCaller, _: Client
) -> dict[str, str]:
    """An agent acting for the person shows a signed permission; the person is asked directly."""
    try:
        permission = base64.b64decode(body.permission, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("permission must be the signed document in base64") from None
    verify_review.register_agent(
        request_id,
        body.name,
        body.kind,
        body.signed_by,
        body.signed_on,
        permission,
        who.actor if who else f"authorized-agent:{body.name}",
        who.tenant_id if who else None,
    )
    return {"status": "person_asked"}


@router.post("/requests/{request_id}/risk", response_model=ProgressOut)
def report_risk(request_id: str, body: RiskIn, who: Caller) -> ProgressOut:
    """Report risk signals; the required level is raised accordingly."""
    verify_policy.report_signals(request_id, body.signals, who.actor, who.tenant_id)
    return _progress(request_id, who.tenant_id, True)


@router.put("/tenants/{slug}/verification-policy")
def set_policy(slug: str, body: PolicyIn, who: Caller) -> dict[str, object]:
    check_tenant(who, slug)
    if who.role not in ("supervisor", "admin"):
        raise Forbidden(
            "only a supervisor's key may change the verification policy", code="role_not_allowed"
        )
    rules = verify_policy.set_policy(slug, body.kind, body.jurisdiction, body.rules, who.actor)
    return {
        "kind": body.kind,
        "jurisdiction": body.jurisdiction,
        "rules": rules.model_dump(mode="json"),
    }
