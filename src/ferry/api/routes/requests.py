"""/api/v1 request routes. The person's own routes (submit, verify, status, download) are open."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ferry.api.deps import Caller, MaybeCaller, Token, check_tenant
from ferry.api.errors import ERROR_RESPONSES, error_responses
from ferry.api.routes.verify import Client
from ferry.api.schemas.requests import (
    AttestIn,
    CodeIn,
    LinkOut,
    RequestCreate,
    RequestRead,
    StatusOut,
    SubmittedOut,
    VerifiedOut,
)
from ferry.domain.errors import Forbidden
from ferry.domain.models import Identity, Scope
from ferry.services import collection, jobs, packages, requests, verification
from ferry.services.notify import portal_url
from ferry.services.tenants import Principal, Unauthorized, authenticate

router = APIRouter(tags=["requests"], responses=ERROR_RESPONSES)

_LOCKED = {423: "Too many wrong codes: verification is locked; an agent verifies another way"}


def _scope(body: RequestCreate) -> Scope | None:
    if body.scope is None:
        return None
    s = body.scope
    return Scope(tuple(s.categories), tuple(s.systems), s.since, s.until)


@router.post("/tenants/{slug}/requests", status_code=201, response_model=SubmittedOut)
def submit_request(slug: str, body: RequestCreate, who: MaybeCaller) -> SubmittedOut:
    """Submit a request. Open to the person; a tenant's key may submit on the client's behalf."""
    if who:
        check_tenant(who, slug)
    identities = [Identity.parse(i.type, i.value) for i in body.identities]
    view = requests.submit(
        slug,
        body.kind,
        identities,
        jurisdiction=body.jurisdiction,
        scope=_scope(body),
        channel="api" if who else "api-public",
        actor=who.actor if who else "subject",
        recipient=body.recipient if who else None,
        consent=body.consent,
        formats=body.formats,
    )
    return SubmittedOut(
        id=view.id, state=view.state, due_date=view.due_date, status_url=portal_url(slug, view.id)
    )


@router.get("/tenants/{slug}/requests", response_model=list[RequestRead])
def list_requests(
    slug: str, who: Caller, state: str | None = None, overdue: bool = False
) -> list[RequestRead]:
    check_tenant(who, slug)
    return [RequestRead.of(v) for v in requests.list_requests(slug, state, overdue)]


@router.get("/requests/{request_id}", response_model=RequestRead)
def get_request(request_id: str, who: Caller) -> RequestRead:
    return RequestRead.of(requests.show(request_id, who.tenant_id))


@router.get("/requests/{request_id}/status", response_model=StatusOut)
def request_status(request_id: str) -> StatusOut:
    """The person's status view: state and due date only, no personal data."""
    return StatusOut.of(requests.status(request_id))


@router.post(
    "/requests/{request_id}/verify", response_model=VerifiedOut, responses=error_responses(_LOCKED)
)
def verify_code(request_id: str, body: CodeIn, client: Client) -> VerifiedOut:
    token = verification.check_code(request_id, body.code, client)
    return VerifiedOut(state=requests.status(request_id).state, access_token=token)


@router.post(
    "/requests/{request_id}/code",
    status_code=202,
    responses=error_responses({**_LOCKED, 429: "Too many codes sent in the last hour"}),
)
def resend_code(request_id: str, client: Client) -> dict[str, str]:
    verification.resend_code(request_id, client)
    return {"status": "sent"}


@router.post("/requests/{request_id}/attest", response_model=RequestRead)
def attest(request_id: str, body: AttestIn, who: Caller) -> RequestRead:
    note = f"{body.note} (via {who.actor})"
    verification.attest(request_id, body.agent, note, who.tenant_id, role=who.role)
    return RequestRead.of(requests.show(request_id, who.tenant_id))


@router.post(
    "/requests/{request_id}/run",
    response_model=RequestRead,
    status_code=202,
    responses={200: {"model": RequestRead, "description": "Collected (with `wait=true`)"}},
)
def run_collection(
    request_id: str, who: Caller, wait: bool = Query(False, description="collect before answering")
) -> JSONResponse:
    view = collection.start(request_id, who.actor, who.tenant_id)
    if wait:
        view = collection.execute(request_id, who.actor)
        return JSONResponse(RequestRead.of(view).model_dump(mode="json"), status_code=200)
    jobs.enqueue("collect", request_id, who.actor)
    return JSONResponse(RequestRead.of(view).model_dump(mode="json"), status_code=202)


@router.post("/requests/{request_id}/approve", response_model=RequestRead)
def approve(request_id: str, who: Caller) -> RequestRead:
    return RequestRead.of(requests.approve(request_id, who.actor, who.tenant_id))


@router.post("/requests/{request_id}/download-link", response_model=LinkOut)
def download_link(request_id: str, token: Token) -> LinkOut:
    """A fresh expiring link: for the tenant's key, or for the person with their access token."""
    who: Principal | None = None
    if not token:
        raise Unauthorized(
            "sign in with your code first and send `Authorization: Bearer ACCESS_TOKEN` "
            "(or use the tenant's API key)"
        )
    if token.startswith("fk_"):
        who = authenticate(token)
    elif not verification.subject_allowed(token, request_id):
        raise Forbidden(
            "sign in with your code first (or use the tenant's API key)", code="not_signed_in"
        )
    link = packages.download_link(
        request_id, who.actor if who else "subject", who.tenant_id if who else None
    )
    return LinkOut(url=link.url, expires_at=link.expires_at)
