"""Jurisdiction rules as data, and the due-date calculation that applies them.

This foundation knows the GDPR family (EU member states and the UK) and California's CCPA/CPRA;
the full rule set (holiday calendars, extensions, acknowledgements) builds on the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ferry.domain.deadlines import Period, PeriodUnit, add_period
from ferry.domain.errors import InvalidInput

EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


@dataclass(frozen=True)
class Rule:
    code: str
    law: str
    period: Period
    citation: str


_GDPR = Period(1, PeriodUnit.MONTHS, roll_to_working_day=True)
_GDPR_CITE = "GDPR Art. 12(3): without undue delay and in any event within one month of receipt"
_CCPA = Period(45, PeriodUnit.CALENDAR_DAYS)
_CCPA_CITE = "Cal. Civ. Code §1798.130(a)(2): within 45 calendar days of receiving the request"


def rule_for(code: str) -> Rule:
    """The rule for a jurisdiction code such as ``EU-DE``, ``GB`` or ``US-CA``."""
    norm = code.strip().upper()
    if norm.startswith("EU-") and norm[3:] in EU_MEMBERS:
        return Rule(norm, "EU GDPR", _GDPR, _GDPR_CITE)
    if norm == "GB":
        return Rule(norm, "UK GDPR", _GDPR, _GDPR_CITE.replace("GDPR", "UK GDPR", 1))
    if norm == "US-CA":
        return Rule(norm, "CCPA/CPRA", _CCPA, _CCPA_CITE)
    raise InvalidInput(
        f"unknown jurisdiction {code!r}; use EU-<member state> (e.g. EU-DE), GB or US-CA"
    )


def known_codes() -> list[str]:
    return [f"EU-{c}" for c in sorted(EU_MEMBERS)] + ["GB", "US-CA"]


def due_date(code: str, received: date) -> date:
    rule = rule_for(code)
    return add_period(received, rule.period)
