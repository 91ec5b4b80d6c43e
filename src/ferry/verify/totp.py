"""TOTP (RFC 6238) for people who hold an account: enrol once, then prove it with the app.

The secret is sealed at rest (``crypto.box``); the service opens it into ``expected["secret"]``.
A code is accepted once: its time step must be later than the last one used (no replay). When a
person has no enrolment the service passes a random decoy secret, so the work is the same.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import pyotp
from pydantic import BaseModel, ConfigDict, Field

from ferry.crypto.tokens import same
from ferry.verify.base import Attempt, Level, Outcome


class TotpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issuer: str = Field(default="Ferry", max_length=60)
    valid_window: int = Field(default=1, ge=0, le=2)
    interval: int = Field(default=30, ge=15, le=120)


def new_secret() -> str:
    return pyotp.random_base32()


class Totp:
    name: ClassVar[str] = "totp"
    max_level: ClassVar[Level] = Level.LOW

    def __init__(self, config: TotpConfig) -> None:
        self.config = config

    @classmethod
    def build(cls, config: Mapping[str, Any]) -> Self:
        return cls(TotpConfig.model_validate(config))

    def uri(self, secret: str, account: str) -> str:
        totp = pyotp.TOTP(secret, interval=self.config.interval)
        return totp.provisioning_uri(name=account, issuer_name=self.config.issuer)

    def check(self, attempt: Attempt) -> Outcome:
        """Every step in the window is computed and compared, whatever matches first."""
        given = str(attempt.answer.get("code", "")).strip()[:20]
        totp = pyotp.TOTP(attempt.expected.get("secret", ""), interval=self.config.interval)
        last = int(attempt.expected.get("last_step", "0"))
        now = int(time.time()) // self.config.interval
        hit = 0
        for step in range(now - self.config.valid_window, now + self.config.valid_window + 1):
            if same(totp.at(step * self.config.interval), given) and step > last and not hit:
                hit = step
        if not hit:
            return Outcome(False)
        return Outcome(True, self.max_level, details={"step": hit})
