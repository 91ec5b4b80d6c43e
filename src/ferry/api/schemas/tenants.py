"""Bodies of the tenant routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=1, max_length=63, examples=["acme"])
    name: str = Field(min_length=1, max_length=200, examples=["Acme Retail Ltd"])
    jurisdictions: list[str] = Field(default_factory=lambda: ["EU-DE"], max_length=40)
    review_required: bool = False
    agent_email: str | None = Field(default=None, max_length=320)


class TenantRead(BaseModel):
    slug: str
    name: str
    jurisdictions: list[str]
    review_required: bool
    created_at: datetime


class ErrorOut(BaseModel):
    code: str
    message: str
