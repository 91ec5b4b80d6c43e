"""Authorized agents (someone acting for the person) and agent attestation.

An authorized agent shows a signed permission; Ferry keeps its SHA-256 and who signed it when,
then confirms directly with the person: a code goes to the person's own contact point, and the
person's answer is checked like an email code (method ``authorized-agent``).

Agent attestation (an agent verified the person another way, e.g. a call-back to the number on
file) is only for the roles the policy allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from ferry.verify.base import Attempt, Level, Outcome
from ferry.verify.codes import EmailCode


class AuthorizedAgent(EmailCode):
    name: ClassVar[str] = "authorized-agent"


class AttestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[str] = Field(default_factory=lambda: ["supervisor", "admin", "operator"])
    min_note: int = Field(default=5, ge=1, le=500)


class AgentAttested:
    name: ClassVar[str] = "agent"
    max_level: ClassVar[Level] = Level.HIGH

    def __init__(self, config: AttestConfig) -> None:
        self.config = config

    @classmethod
    def build(cls, config: Mapping[str, Any]) -> Self:
        return cls(AttestConfig.model_validate(config))

    def allowed(self, role: str) -> bool:
        return role in self.config.roles

    def check(self, attempt: Attempt) -> Outcome:
        """Passed when the agent's role may attest and the note says how; at the level stated."""
        role = attempt.answer.get("role", "")
        note = attempt.answer.get("note", "").strip()
        if not self.allowed(role) or len(note) < self.config.min_note:
            return Outcome(False)
        level = Level(min(max(int(attempt.answer.get("level", "1")), 1), 3))
        return Outcome(True, level, details={"role": role})
