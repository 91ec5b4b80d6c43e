"""Cross-border transfer rules applied to one recipient country. Pure: no store, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ferry.domain.errors import InvalidInput
from ferry.jurisdictions.loader import Rule


class Outcome(StrEnum):
    ALLOWED = "allowed"
    SUPERVISOR = "ask_supervisor"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class TransferDecision:
    outcome: Outcome
    basis: str
    citation: str


def decide(rule: Rule, country: str, safeguard: str | None = None) -> TransferDecision:
    """Whether data may go to a recipient in ``country`` (ISO 3166 alpha-2)."""
    dest = country.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", dest):
        raise InvalidInput(f"recipient country {country[:20]!r} must be an ISO code such as FR")
    t = rule.data.transfer
    cite = t.citation
    if t.rule == "none" or dest in t.same_area:
        where = "no transfer rule applies" if t.rule == "none" else "inside the same area"
        return TransferDecision(Outcome.ALLOWED, f"{dest}: {where}", cite)
    if dest in t.adequate:
        return TransferDecision(Outcome.ALLOWED, f"{dest}: adequacy / equivalence", cite)
    if dest in t.partial:
        return TransferDecision(
            Outcome.SUPERVISOR, f"{dest}: adequate only for {t.partial[dest]}; confirm", cite
        )
    if safeguard and safeguard.strip():
        return TransferDecision(
            Outcome.SUPERVISOR, f"{dest}: safeguard claimed: {safeguard.strip()[:300]}", cite
        )
    options = "; ".join(t.safeguards) or "none"
    return TransferDecision(
        Outcome.BLOCKED, f"{dest}: no adequacy and no safeguard given (options: {options})", cite
    )
