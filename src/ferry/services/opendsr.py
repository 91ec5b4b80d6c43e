"""OpenDSR processor use-cases: create, status, cancel. The controller verified the person, so a
request taken in here is attested by the calling key; collection starts from the agent queue
(or ``POST /api/v1/requests/ID/run``) like any other request."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit

from ferry.crypto import processor_cert
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict, FerryError, NotFound
from ferry.intake.opendsr import (
    OpenDsrRequest,
    check_callback_urls,
    check_type,
    map_identities,
    status_of,
)
from ferry.services import requests, verification
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import requests as request_store
from ferry.store import tenants
from ferry.store.tables import OpenDsrLink, Request

_CANCELLABLE = ("received", "awaiting_verification", "verified", "paused")
_REGULATION = {"ccpa": "US-CA", "uk_gdpr": "GB"}


@dataclass(frozen=True)
class Signed:
    """A JSON answer with its exact bytes and their processor signature."""

    status: int
    body: bytes
    signature: str


def processor_domain() -> str:
    return urlsplit(get_settings().public_url).hostname or "ferry.localhost"


def processor_key() -> processor_cert.ProcessorKey:
    return processor_cert.load(get_settings().var_dir, processor_domain())


def certificate_url() -> str:
    return f"{get_settings().public_url.rstrip('/')}/opendsr/v1/processor.crt"


def signed(status: int, payload: dict[str, Any]) -> Signed:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Signed(status, body, processor_key().sign(body))


def _expected(req: Request) -> str:
    return datetime.combine(req.due_date, time(23, 59, 59)).isoformat() + "Z"


def create(tenant_slug: str, actor: str, raw: bytes, body: OpenDsrRequest) -> Signed:
    check_type(body.subject_request_type)
    identities = map_identities(body.subject_identities)
    check_callback_urls(body.status_callback_urls, get_settings().allow_loopback_callbacks)
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        link = session.get(OpenDsrLink, body.subject_request_id)
        if link is not None:
            if link.tenant_id != tenant.id:
                raise Conflict("this subject_request_id is already in use", code="duplicate_id")
            req = request_store.get(session, link.request_id)
            return signed(200, _created(tenant_slug, link, req, raw))
    view = requests.submit(
        tenant_slug,
        "access",
        identities,
        jurisdiction=_REGULATION.get(body.regulation or ""),
        channel="opendsr",
        actor=actor,
        send_code=False,
    )
    with unit_of_work() as session:
        link = OpenDsrLink(
            subject_request_id=body.subject_request_id,
            tenant_id=session.get_one(Request, view.id).tenant_id,
            request_id=view.id,
            request_type=body.subject_request_type,
            callback_urls=list(dict.fromkeys(body.status_callback_urls)),
            api_version=body.api_version,
            submitted_time=body.submitted_time.replace(tzinfo=None),
        )
        session.add(link)
        session.flush()
        record(
            session,
            link.tenant_id,
            actor,
            "opendsr.received",
            view.id,
            {
                "subject_request_id": body.subject_request_id,
                "type": body.subject_request_type,
                "callbacks": len(link.callback_urls),
            },
        )
    verification.attest(view.id, actor, "identity verified by the controller (OpenDSR request)")
    with unit_of_work() as session:
        req = session.get_one(Request, view.id)
        return signed(201, _created(tenant_slug, link, req, raw))


def _created(slug: str, link: OpenDsrLink, req: Request, raw: bytes) -> dict[str, Any]:
    return {
        "controller_id": slug,
        "subject_request_id": link.subject_request_id,
        "received_time": req.received_at.isoformat() + "Z",
        "expected_completion_time": _expected(req),
        "encoded_request": base64.b64encode(raw).decode(),
        "api_version": link.api_version,
    }


def _find(session: Any, tenant_slug: str, subject_request_id: str) -> tuple[OpenDsrLink, Request]:
    tenant = tenants.get_by_slug(session, tenant_slug)
    link = session.get(OpenDsrLink, subject_request_id)
    if link is None or link.tenant_id != tenant.id:
        raise NotFound(f"no request {subject_request_id!r}", code="request_not_found")
    return link, request_store.get(session, link.request_id)


def status_payload(link: OpenDsrLink, req: Request, slug: str) -> dict[str, Any]:
    return {
        "controller_id": slug,
        "subject_request_id": link.subject_request_id,
        "request_status": status_of(req.state),
        "expected_completion_time": _expected(req),
        "api_version": link.api_version,
        "results_url": None,
    }


def status(tenant_slug: str, subject_request_id: str) -> Signed:
    with unit_of_work() as session:
        link, req = _find(session, tenant_slug, subject_request_id)
        return signed(200, status_payload(link, req, tenant_slug))


def cancel(tenant_slug: str, subject_request_id: str, actor: str) -> Signed:
    with unit_of_work() as session:
        link, req = _find(session, tenant_slug, subject_request_id)
        if req.state not in _CANCELLABLE:
            raise FerryError(
                f"the request is {status_of(req.state)}; only a pending request can be cancelled",
                code="not_cancellable",
                status=409,
            )
    requests.withdraw(req.id, actor, "cancelled by the controller (OpenDSR)")
    return signed(
        202,
        {
            "controller_id": tenant_slug,
            "subject_request_id": subject_request_id,
            "received_time": utcnow().isoformat() + "Z",
            "api_version": link.api_version,
        },
    )
