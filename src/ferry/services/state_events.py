"""What happens on every state change besides the audit event: notices to the person and, for
requests that came through OpenDSR, status callbacks to the controller."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ferry.domain.models import RequestState
from ferry.store.tables import Request


def changed(
    session: Session,
    req: Request,
    previous: RequestState,
    target: RequestState,
    data: dict[str, Any],
) -> None:
    from ferry.services import notices, opendsr_callbacks

    notices.on_state_change(session, req, target, data)
    opendsr_callbacks.on_state_change(session, req, previous, target)
