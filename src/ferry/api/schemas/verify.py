"""Bodies of the verification routes."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ShortText = Field(default=None, max_length=200)


class AnswerIn(BaseModel):
    """What the person answers: a code, a link token, or data points (+ declaration)."""

    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, min_length=1, max_length=20)
    token: str | None = Field(default=None, min_length=1, max_length=200)
    points: dict[str, str] | None = Field(default=None, max_length=12)
    declaration: str | None = Field(
        default=None,
        max_length=200,
        description="your full name, signing that the details are true under penalty of perjury",
    )

    def fields(self) -> dict[str, str]:
        out = {k: v[:200] for k, v in (self.points or {}).items() if len(k) <= 40}
        for name in ("code", "token", "declaration"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class AnsweredOut(BaseModel):
    state: str
    access_token: str
    level: int
    required_level: int
    points: list[str]


class ProgressOut(BaseModel):
    state: str
    required_level: int
    achieved_level: int
    methods: list[str]
    locked: bool
    asks: list[str] = Field(default_factory=list, description="facts the knowledge method asks")
    signals: list[str] | None = None
    evidence: list[dict[str, Any]] | None = None


class EnrolOut(BaseModel):
    secret: str
    uri: str


class CodeOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=20)


class DocumentOut(BaseModel):
    id: int
    status: str
    content_type: str
    size: int
    approvals_needed: int
    decisions: list[dict[str, Any]]
    stored: bool


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str = Field(min_length=3, max_length=500)


class AuthorizedAgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(person|company)$")
    signed_by: str = Field(min_length=1, max_length=200)
    signed_on: date
    permission: str = Field(
        min_length=4, max_length=7_000_000, description="the signed permission, base64"
    )


class RiskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signals: list[str] = Field(min_length=1, max_length=5)


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(default="*", max_length=20)
    jurisdiction: str = Field(default="*", max_length=10)
    rules: dict[str, Any]
