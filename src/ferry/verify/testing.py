"""Test doubles: an SMS provider that keeps messages, and a method that passes on one answer."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel

from ferry.verify.base import Attempt, Level, Outcome


class RecordingSms:
    """Keeps every message in ``sent`` instead of sending it; ``fail=True`` refuses all."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, to: str, body: str) -> str:
        from ferry.verify.sms import SmsError

        if self.fail:
            raise SmsError("the test provider refuses every message")
        self.sent.append((to, body))
        return f"SM{len(self.sent):032d}"

    def last_code(self, to: str) -> str:
        for number, body in reversed(self.sent):
            found = re.search(r"\b(\d{6,10})\b", body)
            if number == to and found:
                return found.group(1)
        raise AssertionError(f"no code sent to {to}")


class FixedConfig(BaseModel):
    answer: str = "ok"
    level: Level = Level.LOW


class FixedMethod:
    """Passes when ``answer["value"]`` equals the configured answer."""

    name: ClassVar[str] = "fixed"
    max_level: ClassVar[Level] = Level.HIGH

    def __init__(self, config: FixedConfig | None = None) -> None:
        self.config = config or FixedConfig()

    def check(self, attempt: Attempt) -> Outcome:
        ok = attempt.answer.get("value") == self.config.answer
        return Outcome(ok, self.config.level if ok else Level.NONE)
