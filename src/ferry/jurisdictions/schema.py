"""The shape every rule file must have. ``RuleFile.model_json_schema()`` is the published schema."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ferry.domain.deadlines import PeriodUnit

_COUNTRY = r"^[A-Z]{2}$"
_CODE = re.compile(r"^[A-Z]{2}(-[A-Z]{2})?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(_Strict):
    citation: str = Field(min_length=3, description="article / section the rule comes from")


class Span(_Strict):
    length: int = Field(gt=0, le=366)
    unit: PeriodUnit


class Response(Cited):
    """The response period. ``length`` is empty for "without undue delay" laws."""

    length: int | None = Field(default=None, gt=0, le=366)
    unit: PeriodUnit | None = None
    roll_to_working_day: bool = False
    without_undue_delay: bool = False
    internal_target: Span | None = Field(
        default=None, description="default target the tenant may change, where the law sets none"
    )

    @model_validator(mode="after")
    def _period_or_target(self) -> Response:
        if (self.length is None) != (self.unit is None):
            raise ValueError("response.length and response.unit go together")
        if self.length is None and self.internal_target is None:
            raise ValueError("a law with no fixed period needs response.internal_target")
        return self


class Extension(Cited):
    length: int | None = Field(
        default=None, gt=0, le=366, description="empty: the law caps no length (date required)"
    )
    unit: PeriodUnit | None = None
    times: int = Field(default=1, ge=1, le=3)
    conditions: str = Field(min_length=3)
    notice: str = Field(min_length=3, description="by when and how the person must be told")
    reasons_required: bool = True

    @model_validator(mode="after")
    def _unit_with_length(self) -> Extension:
        if (self.length is None) != (self.unit is None):
            raise ValueError("extension.length and extension.unit go together")
        return self


class Acknowledgement(Cited):
    length: int = Field(gt=0, le=60)
    unit: PeriodUnit


class Clock(Cited):
    starts: Literal["receipt", "verification"] = "receipt"
    pause_allowed: bool
    pause_reasons: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reasons_when_allowed(self) -> Clock:
        if self.pause_allowed and not self.pause_reasons:
            raise ValueError("clock.pause_allowed needs pause_reasons")
        if not self.pause_allowed and self.pause_reasons:
            raise ValueError("clock.pause_reasons given but pause_allowed is false")
        return self


class Limit(Cited):
    kinds: list[Literal["access", "transfer", "device", "consent-share"]] = Field(min_length=1)
    max_requests: int = Field(ge=1, le=100)
    window_months: int = Field(ge=1, le=60)
    consequence: str = Field(min_length=3)


class Rejection(Cited):
    unfounded_or_excessive: bool = Field(
        description="the law lets the controller refuse manifestly unfounded/excessive requests"
    )
    complaint: str = Field(min_length=10, description="the person's right to complain, as told")


class Transfer(Cited):
    rule: Literal["adequacy", "safeguards", "consent", "none"]
    same_area: list[str] = Field(
        default_factory=list, description="countries inside the law's own area (no transfer)"
    )
    adequate: list[str] = Field(default_factory=list)
    partial: dict[str, str] = Field(
        default_factory=dict, description="country -> condition under which it is adequate"
    )
    safeguards: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _countries(self) -> Transfer:
        for c in [*self.same_area, *self.adequate, *self.partial]:
            if not re.match(_COUNTRY, c):
                raise ValueError(f"transfer country {c!r} is not an ISO 3166 alpha-2 code")
        return self


class Described(Cited):
    text: str = Field(min_length=3)


class Holidays(_Strict):
    country: str = Field(pattern=_COUNTRY)
    subdiv: str | None = Field(default=None, max_length=10)


class RuleFile(_Strict):
    """One jurisdiction (or, for the EU, one law applied in each member state)."""

    law: str = Field(min_length=2)
    short: str = Field(min_length=2, max_length=40)
    codes: list[str] = Field(default_factory=list)
    member_states: list[str] = Field(
        default_factory=list, description="EU: codes EU-<state>, holidays of that state"
    )
    holidays: Holidays | None = None
    authority: str = Field(min_length=3)
    response: Response
    extension: Extension | None = None
    acknowledgement: Acknowledgement | None = None
    clock: Clock
    limits: list[Limit] = Field(default_factory=list)
    rejection: Rejection
    portability: Described
    verification: Described
    fees: Described
    transfer: Transfer
    review_note: str | None = Field(
        default=None, description="what a lawyer should still confirm before relying on this file"
    )

    @model_validator(mode="after")
    def _codes(self) -> RuleFile:
        if bool(self.codes) == bool(self.member_states):
            raise ValueError("give exactly one of codes or member_states")
        for code in self.codes:
            if not _CODE.match(code):
                raise ValueError(f"code {code!r} must look like GB or US-CA")
        for state in self.member_states:
            if not re.match(_COUNTRY, state):
                raise ValueError(f"member state {state!r} is not an ISO 3166 alpha-2 code")
        if self.codes and self.holidays is None:
            raise ValueError("a rule file with codes needs holidays: {country, subdiv}")
        return self

    def expanded_codes(self) -> list[str]:
        return self.codes or [f"EU-{s}" for s in self.member_states]

    def holidays_for(self, code: str) -> Holidays:
        if self.member_states:
            return Holidays(country=code.removeprefix("EU-"))
        assert self.holidays is not None
        return self.holidays
