"""What happens on every state change besides the audit event: notices to the person, for
requests that came through OpenDSR status callbacks to the controller, and, for a request
withdrawn or rejected, deleting what was collected for it (``uploads.purge_request``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ferry.domain.models import RequestState
from ferry.store.tables import Request, Tenant

_PURGED = (RequestState.WITHDRAWN, RequestState.REJECTED)


def changed(
    session: Session,
    req: Request,
    previous: RequestState,
    target: RequestState,
    data: dict[str, Any],
) -> None:
    from ferry.services import notices, opendsr_callbacks, uploads

    if target in _PURGED:
        slug = session.get_one(Tenant, req.tenant_id).slug
        uploads.purge_request(session, req, slug, f"request {target.value}")
    notices.on_state_change(session, req, target, data)
    opendsr_callbacks.on_state_change(session, req, previous, target)
