"""Free-request limits per person and jurisdiction (e.g. CCPA: access twice in 12 months)."""

from __future__ import annotations

from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from ferry.jurisdictions import Rule
from ferry.services.audit import record
from ferry.store import clocks
from ferry.store.tables import Request


def check(session: Session, req: Request, rule: Rule) -> str | None:
    """The limit this request goes over, as a sentence, recorded in the audit trail; else None.

    The request is still taken in (nothing accepted is lost): the agent decides, and may reject
    it citing the limit.
    """
    identities = [(i.type, i.value) for i in req.identities]
    for limit in rule.data.limits:
        if req.kind not in limit.kinds:
            continue
        since = req.received_at - relativedelta(months=limit.window_months)
        prior = clocks.count_prior(session, req, list(limit.kinds), since, identities)
        if prior >= limit.max_requests:
            text = (
                f"{prior + 1}th {'/'.join(limit.kinds)} request from this person under "
                f"{rule.law} in {limit.window_months} months (limit {limit.max_requests}): "
                f"{limit.consequence} ({limit.citation})"
            )
            record(
                session,
                req.tenant_id,
                "system",
                "request.over_limit",
                req.id,
                {"prior": prior, "limit": limit.max_requests, "citation": limit.citation},
            )
            return text
    return None
