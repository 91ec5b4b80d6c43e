"""OpenDSR processor endpoints under /opendsr/v1 (the OpenGDPR 1.x ``/opengdpr_requests`` route is
kept as an alias). Answers carry ``X-OpenDSR-Signature`` over their exact bytes."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ferry.api.deps import Caller
from ferry.domain.errors import FerryError, Forbidden
from ferry.intake.opendsr import OpenDsrRequest, discovery
from ferry.services import opendsr
from ferry.services.tenants import Principal

router = APIRouter(prefix="/opendsr/v1", tags=["opendsr"])
_MAX_BODY = 64 * 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    """OpenDSR's error shape, with Ferry's ``code``/``message`` beside it."""
    body = {
        "code": code,
        "message": message,
        "error": {"code": status, "title": code, "errors": [{"reason": code, "message": message}]},
    }
    return JSONResponse(body, status_code=status)


def _signed(answer: opendsr.Signed) -> Response:
    return Response(
        answer.body,
        status_code=answer.status,
        media_type="application/json",
        headers={
            "X-OpenDSR-Signature": answer.signature,
            "X-OpenDSR-Processor-Domain": opendsr.processor_domain(),
        },
    )


def _tenant(who: Principal) -> str:
    if who.tenant_slug is None:
        raise Forbidden("OpenDSR calls need a tenant's API key (it decides the controller)")
    return who.tenant_slug


@router.get("/discovery")
def get_discovery() -> dict[str, Any]:
    return discovery(opendsr.certificate_url())


@router.get("/processor.crt", response_class=Response)
def certificate() -> Response:
    return Response(opendsr.processor_key().certificate_pem, media_type="application/x-pem-file")


async def _create(request: Request, who: Principal) -> Response:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        return _error(413, "too_large", f"the request body is over {_MAX_BODY} bytes")
    try:
        body = OpenDsrRequest.model_validate(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "malformed_json", "the request body is not valid JSON")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return _error(422, "invalid_input", problems)
    try:
        return _signed(opendsr.create(_tenant(who), who.actor, raw, body))
    except FerryError as exc:
        return _error(exc.status, exc.code, exc.message)


@router.post("/requests", status_code=201)
async def create_request(request: Request, who: Caller) -> Response:
    """Create an access or portability request (erasure is refused: out of scope)."""
    return await _create(request, who)


@router.post("/opengdpr_requests", status_code=201, include_in_schema=False)
async def create_request_v1(request: Request, who: Caller) -> Response:
    return await _create(request, who)


def _status(subject_request_id: str, who: Principal) -> Response:
    try:
        return _signed(opendsr.status(_tenant(who), subject_request_id))
    except FerryError as exc:
        return _error(exc.status, exc.code, exc.message)


def _cancel(subject_request_id: str, who: Principal) -> Response:
    try:
        return _signed(opendsr.cancel(_tenant(who), subject_request_id, who.actor))
    except FerryError as exc:
        return _error(exc.status, exc.code, exc.message)


@router.get("/requests/{subject_request_id}")
def request_status(subject_request_id: str, who: Caller) -> Response:
    return _status(subject_request_id, who)


@router.get("/opengdpr_requests/{subject_request_id}", include_in_schema=False)
def request_status_v1(subject_request_id: str, who: Caller) -> Response:
    return _status(subject_request_id, who)


@router.delete("/requests/{subject_request_id}", status_code=202)
def cancel_request(subject_request_id: str, who: Caller) -> Response:
    """Cancel a request that is still pending."""
    return _cancel(subject_request_id, who)


@router.delete("/opengdpr_requests/{subject_request_id}", status_code=202, include_in_schema=False)
def cancel_request_v1(subject_request_id: str, who: Caller) -> Response:
    return _cancel(subject_request_id, who)
