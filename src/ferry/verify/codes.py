"""One-time secrets sent to a contact point: email code, magic link, SMS code.

Only a keyed hash (HMAC with the settings secret, bound to method and request) is stored, so a
code cannot be used for another request or another method, and a leaked table cannot be
brute-forced offline. Comparison is constant-time.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from ferry.crypto.tokens import keyed_hash, new_code, same
from ferry.verify.base import Attempt, Level, Outcome


class CodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_minutes: int = Field(default=15, ge=1, le=60)
    digits: int = Field(default=6, ge=6, le=10)
    max_attempts: int = Field(default=5, ge=1, le=10)


def code_hash(secret: str, method: str, request_id: str, code: str) -> str:
    return keyed_hash(secret, "code", method, request_id, code.strip())


class EmailCode:
    """A short numeric code mailed to the address on the request."""

    name: ClassVar[str] = "email-code"
    max_level: ClassVar[Level] = Level.LOW
    answer_field: ClassVar[str] = "code"

    def __init__(self, config: CodeConfig) -> None:
        self.config = config

    @classmethod
    def build(cls, config: Mapping[str, Any]) -> Self:
        return cls(CodeConfig.model_validate(config))

    def new_secret(self) -> str:
        return new_code(self.config.digits)

    def check(self, attempt: Attempt) -> Outcome:
        given = str(attempt.answer.get(self.answer_field, ""))[:200]
        digest = code_hash(attempt.secret, self.name, attempt.request_id, given)
        ok = same(digest, str(attempt.expected.get("hash", "")))
        return Outcome(ok, self.max_level if ok else Level.NONE)


class MagicLink(EmailCode):
    """A long random token in a link mailed to the address on the request."""

    name: ClassVar[str] = "magic-link"
    answer_field: ClassVar[str] = "token"

    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)


class SmsCode(EmailCode):
    """A short numeric code sent by text message to the phone number on the request."""

    name: ClassVar[str] = "sms-code"
