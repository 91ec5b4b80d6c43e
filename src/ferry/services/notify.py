"""Notices to people and agents. A failed send is recorded, never lost silently nor fatal."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ferry.delivery import mail
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store.tables import Request


def send(session: Session, req: Request, to: str, subject: str, body: str, purpose: str) -> bool:
    settings = get_settings()
    try:
        where = mail.send(settings, to, subject, body)
    except (OSError, ValueError) as exc:
        record(
            session,
            req.tenant_id,
            "system",
            "notice.failed",
            req.id,
            {"purpose": purpose, "error": f"{type(exc).__name__}: {exc}"[:300]},
        )
        return False
    record(
        session,
        req.tenant_id,
        "system",
        "notice.sent",
        req.id,
        {"purpose": purpose, "via": "smtp" if where == "smtp" else "outbox"},
    )
    return True


def portal_url(tenant_slug: str, request_id: str, page: str = "") -> str:
    base = get_settings().public_url.rstrip("/")
    return f"{base}/p/{tenant_slug}/r/{request_id}{page}"


def package_ready(session: Session, req: Request, slug: str, name: str) -> None:
    """Tell the person their copy is ready: a link to the portal, never data in the mail."""
    from ferry.services import delivery  # a transfer goes to its recipient instead

    if delivery.has_recipient(session, req.id):
        delivery.schedule_after_commit(session, req.id)
        return
    email = next((i.value for i in req.identities if i.type == "email"), None)
    if email:
        send(
            session,
            req,
            email,
            f"Your data from {name} is ready",
            f"The copy of your data you asked {name} for is ready.\n\nOpen "
            f"{portal_url(slug, req.id)} to download it. If you are asked to, enter the code "
            "we send to this address.\n",
            "package_ready",
        )
