"""Which methods and which level a request needs: per tenant, kind and jurisdiction, plus risk.

Defaults: the GDPR family asks for possession of a contact point on file (``LOW``), CCPA asks for
a "reasonable degree of certainty" (``REASONABLE``). Each risk signal raises the level by its
weight (default 1, at most ``HIGH``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ferry.verify.base import Level

SIGNALS = {
    "identity_mismatch": "the identities given do not match the client's records as one person",
    "address_differs": "the delivery address differs from the one on file",
    "third_party": "the data goes to a third party (transfer or consent share)",
}
THIRD_PARTY_KINDS = {"transfer", "consent-share"}
DEFAULT_LEVEL = {"US-CA": Level.REASONABLE}


class PolicyRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    methods: list[str] | None = Field(default=None, description="allowed methods; None: all")
    level: Level | None = Field(default=None, description="base level; None: jurisdiction's")
    raise_by: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(SIGNALS, 1))
    second_reviewer_from: Level = Level.HIGH
    config: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("raise_by")
    @classmethod
    def _known_signals(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown risk signals {sorted(unknown)}; use {sorted(SIGNALS)}")
        return value


def base_level(rules: PolicyRules, jurisdiction: str) -> Level:
    if rules.level is not None:
        return rules.level
    return DEFAULT_LEVEL.get(jurisdiction, Level.LOW)


def required_level(rules: PolicyRules, jurisdiction: str, signals: list[str]) -> Level:
    raised = base_level(rules, jurisdiction) + sum(rules.raise_by.get(s, 0) for s in set(signals))
    return Level(min(raised, Level.HIGH))


def initial_signals(kind: str) -> list[str]:
    return ["third_party"] if kind in THIRD_PARTY_KINDS else []
