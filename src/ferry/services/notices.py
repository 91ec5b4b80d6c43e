"""Email notices on a request's state changes: what the person must know and a link, nothing more.

No personal data goes in a notice: not the data, not the identities. The ready-to-download
notice is :func:`notify.package_ready`. Extension and rejection letters are sent by
``services.extension`` and ``services.rejection``, because the law requires them to state the
reasons (and, for a refusal, the right to complain); this module covers the other changes a
person must hear about.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ferry.domain.models import IdentityType, RequestState
from ferry.services import notify
from ferry.store.tables import Request, Tenant

S = RequestState
TEXTS: dict[RequestState, tuple[str, str]] = {
    S.PAUSED: (
        "Your request to {name} is waiting for you",
        "{name} paused your request {ref} because something is needed from you. Your status "
        "page says what.",
    ),
    S.WITHDRAWN: (
        "Your request to {name} was withdrawn",
        "Your request {ref} to {name} was withdrawn. Nothing more will be done with it.",
    ),
}
_SENT = (
    "Your data from {name} was sent",
    "{name} sent the copy of your data you asked for (request {ref}) to {recipient}, as you "
    "asked. Your status page has the details.",
)


def on_state_change(
    session: Session, req: Request, target: RequestState, data: dict[str, Any]
) -> None:
    via = data.get("via")
    if target in TEXTS:  # which notice first: most moves send none, and need no identities
        subject, body = TEXTS[target]
    elif target is S.DELIVERED and via not in (None, "download"):
        subject, body = _SENT
    else:
        return
    email = next((i.value for i in req.identities if i.type == IdentityType.EMAIL), None)
    if email is None:
        return
    tenant = session.get_one(Tenant, req.tenant_id)
    fields = {"name": tenant.name, "ref": req.id[:8], "recipient": data.get("recipient", "them")}
    link = notify.portal_url(tenant.slug, req.id)
    text = body.format(**fields) + f"\n\nOpen {link} to see it.\n"
    notify.send(session, req, email, subject.format(**fields), text, f"state_{target.value}")
