"""OpenDSR status callbacks: on every change of a request's OpenDSR status, a signed POST to each
``status_callback_urls`` entry, retried with backoff, each recorded as a delivery.

Callbacks go out after the transaction commits, on one worker thread so that a controller sees
the statuses in the order they happened. A callback already delivered is never sent again (its
delivery row is keyed by request, status and URL).
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.delivery import outbound
from ferry.domain.clock import utcnow
from ferry.domain.models import RequestState
from ferry.intake.opendsr import status_of
from ferry.services import opendsr
from ferry.services.audit import record
from ferry.services.delivery import Retry
from ferry.settings import get_settings
from ferry.store import deliveries, txn
from ferry.store.tables import Delivery, OpenDsrLink, Request, Tenant

log = logging.getLogger("ferry.opendsr")
_worker: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()


def on_state_change(
    session: Session, req: Request, previous: RequestState, target: RequestState
) -> None:
    if status_of(previous) == status_of(target):
        return
    held = txn.memo(session)
    if ("opendsr.link", req.id) in held:  # read beforehand with the rest of a batch
        link: OpenDsrLink | None = held[("opendsr.link", req.id)]
    else:
        query = select(OpenDsrLink).where(OpenDsrLink.request_id == req.id)
        link = session.scalars(query).one_or_none()
    if link is None or not link.callback_urls:
        return
    subject_id, status = link.subject_request_id, status_of(target)

    def start() -> None:
        future = _executor().submit(_send_logged, subject_id, status)
        _pending.add(future)
        future.add_done_callback(_pending.discard)

    txn.after_commit(session, start)


def prefetch(session: Session, request_ids: list[str]) -> None:
    """Read the OpenDSR links of a batch of requests at once, for the rest of the transaction
    (a batch creates no links)."""
    held = txn.memo(session)
    found: dict[str, OpenDsrLink] = {}
    for chunk in txn.id_chunks(request_ids):
        query = select(OpenDsrLink).where(OpenDsrLink.request_id.in_(chunk))
        found.update((link.request_id, link) for link in session.scalars(query))
    for request_id in request_ids:
        held[("opendsr.link", request_id)] = found.get(request_id)


def _executor() -> ThreadPoolExecutor:
    global _worker
    if _worker is None:
        _worker = ThreadPoolExecutor(1, thread_name_prefix="ferry-opendsr")
    return _worker


def drain() -> None:
    """Wait for every queued callback (tests; a clean shutdown)."""
    while _pending:
        for future in list(_pending):
            future.result()
            _pending.discard(future)


def key_for(subject_id: str, status: str, url: str) -> str:
    return hashlib.sha256(f"opendsr:{subject_id}:{status}:{url}".encode()).hexdigest()[:40]


def _send_logged(subject_id: str, status: str) -> None:
    try:
        send_all(subject_id, status)
    except Exception:  # each attempt is recorded; an unexpected error must not vanish
        log.exception("OpenDSR callbacks for %s (%s) stopped", subject_id, status)
        raise


def send_all(subject_id: str, status: str) -> None:
    with unit_of_work() as session:
        link = session.get_one(OpenDsrLink, subject_id)
        req = session.get_one(Request, link.request_id)
        slug = session.get_one(Tenant, link.tenant_id).slug
        base = opendsr.status_payload(link, req, slug)
        urls = list(link.callback_urls)
    base["request_status"] = status
    for url in urls:
        payload = {**base, "status_callback_url": url}
        _send_one(subject_id, link.request_id, link.tenant_id, url, payload, Retry())


def _claim(tenant_id: int, request_id: str, key: str) -> bool:
    with unit_of_work() as session:
        row = deliveries.by_key(session, key, lock=True)
        if row is not None and row.state == "delivered":
            return False
        if row is None:
            session.add(
                Delivery(
                    tenant_id=tenant_id,
                    request_id=request_id,
                    channel="opendsr-callback",
                    idempotency_key=key,
                    state="sending",
                    attempts=0,
                    receipt={},
                )
            )
        return True


def _send_one(
    subject_id: str,
    request_id: str,
    tenant_id: int,
    url: str,
    payload: dict[str, object],
    retry: Retry,
) -> None:
    key = key_for(subject_id, str(payload["request_status"]), url)
    if not _claim(tenant_id, request_id, key):
        return
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "X-OpenDSR-Processor-Domain": opendsr.processor_domain(),
        "X-OpenDSR-Signature": opendsr.processor_key().sign(body),
    }
    for attempt in range(1, retry.attempts + 1):
        outcome = _post(url, body, headers)
        final = outcome is None or attempt == retry.attempts
        _record(key, tenant_id, request_id, url, payload, attempt, outcome, final)
        if final:
            return
        retry.wait(attempt)


def _post(url: str, body: bytes, headers: dict[str, str]) -> str | None:
    """None when the controller accepted it (2xx); otherwise what went wrong."""
    allow_loopback = get_settings().allow_loopback_callbacks
    try:
        answer = outbound.post(url, body, headers, 15.0, allow_loopback)
    except outbound.UnsafeDestination as exc:
        return f"refused: {exc}"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= answer.status_code < 300:
        return None
    return f"the controller answered {answer.status_code}"


def _record(
    key: str,
    tenant_id: int,
    request_id: str,
    url: str,
    payload: dict[str, object],
    attempt: int,
    error: str | None,
    final: bool,
) -> None:
    with unit_of_work() as session:
        row = deliveries.by_key(session, key, lock=True)
        assert row is not None
        row.attempts = attempt
        data = {"url": url, "status": payload["request_status"], "attempt": attempt}
        if error is None:
            row.state, row.error, row.delivered_at = "delivered", None, utcnow()
            row.receipt = {"url": url, "request_status": payload["request_status"]}
            record(session, tenant_id, "system", "opendsr.callback_sent", request_id, data)
            return
        row.error = error[:2000]
        if final:
            row.state = "failed"
        action = "opendsr.callback_failed" if final else "opendsr.callback_retrying"
        record(session, tenant_id, "system", action, request_id, {**data, "error": error[:300]})
