"""Bodies of the clock routes: deadlines, extend, pause, resume, reject, SLA, transfers."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeadlineOut(BaseModel):
    jurisdiction: str
    law: str
    received: date
    timezone: str
    due: date
    extended_due: date | None
    acknowledge_by: date | None
    statutory: bool
    rule: str


class ExtendIn(_In):
    reason: str = Field(min_length=10, max_length=2000)
    until: date | None = None
    notified: str | None = Field(default=None, max_length=500)


class AcknowledgeIn(_In):
    how: str = Field(min_length=10, max_length=500)


class PauseIn(_In):
    reason: Literal["identity", "clarification", "fee"]
    note: str = Field(default="", max_length=500)


class RejectIn(_In):
    reason: str = Field(min_length=10, max_length=2000)
    ground: Literal["unfounded", "over_limit", "other"] = "other"


class ClockOut(BaseModel):
    id: str
    state: str
    jurisdiction: str
    law: str
    rule: str
    timezone: str
    received: date
    due: date
    statutory_due: date
    days_left: int
    overdue: bool
    internal_due: date | None
    acknowledge_by: date | None
    acknowledged: bool
    paused: bool
    pause_reason: str | None
    paused_days: int
    extended: bool
    extended_until: date | None
    extension_reason: str | None
    latest_extension: date | None
    over_limit: str | None
    reminders_sent: list[str]
    escalated: bool
    notice: str | None = None


class SlaIn(_In):
    timezone: str = Field(default="UTC", max_length=64)
    internal_days: int | None = Field(default=None, ge=1, le=366)
    reminders: list[float] = Field(default_factory=lambda: [0.5, 0.75, 0.9], max_length=10)
    escalate_at: float = Field(default=1.0, gt=0, le=1)
    supervisor_email: str | None = Field(default=None, max_length=320)


class SlaOut(BaseModel):
    tenant: str
    timezone: str
    internal_days: int | None
    reminders: list[float]
    escalate_at: float
    supervisor_email: str | None


class TransferIn(_In):
    country: str = Field(min_length=2, max_length=2, examples=["US"])
    safeguard: str | None = Field(default=None, max_length=300)


class TransferApproveIn(_In):
    country: str = Field(min_length=2, max_length=2)
    basis: str = Field(min_length=10, max_length=500)


class TransferOut(BaseModel):
    request_id: str
    country: str
    outcome: str
    basis: str
    citation: str


class TickOut(BaseModel):
    checked: int
    reminders: int
    escalations: int
    overdue: int
    errors: list[str]
