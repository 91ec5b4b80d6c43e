"""Jurisdiction rules as data (``rules/*.yaml``, one file per jurisdiction) and their clocks.

``rule_for(code)`` gives a validated rule; ``deadlines_for`` applies it to a local receipt date
with the jurisdiction's public holidays.
"""

from __future__ import annotations

from datetime import date

from ferry.domain.deadlines import Deadlines, deadlines
from ferry.domain.errors import InvalidInput
from ferry.jurisdictions.loader import Rule, all_rules

__all__ = ["Rule", "deadlines_for", "due_date", "known_codes", "rule_for"]

MAX_CODE = 10


def rule_for(code: str) -> Rule:
    """The rule for a jurisdiction code such as ``EU-DE``, ``GB`` or ``US-CA``."""
    norm = code.strip().upper()[: MAX_CODE + 1]
    found = all_rules().get(norm)
    if found is None:
        raise InvalidInput(
            f"unknown jurisdiction {code[:40]!r}; use EU-<member state> (e.g. EU-DE), GB, US-CA, "
            "US-VA, US-CO, US-CT, BR, CA, CA-QC, SG, AU, JP, IN or CN",
            code="unknown_jurisdiction",
        )
    return found


def known_codes() -> list[str]:
    codes = all_rules()
    return sorted(c for c in codes if c.startswith("EU-")) + sorted(
        c for c in codes if not c.startswith("EU-")
    )


def deadlines_for(code: str, received: date, paused_days: int = 0) -> Deadlines:
    rule = rule_for(code)
    return deadlines(received, rule.clock, rule.holidays, paused_days)


def due_date(code: str, received: date) -> date:
    """The due date for a request received on the local date ``received``."""
    return deadlines_for(code, received).due
