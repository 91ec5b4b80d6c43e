"""Sending text messages: a provider protocol, a Twilio-style HTTP provider and an outbox.

The Twilio-style provider posts ``To``, ``From`` and ``Body`` as a form to
``{base_url}/2010-04-01/Accounts/{account}/Messages.json`` with HTTP basic auth and reads the
message ``sid`` from the JSON answer; any other answer is an :class:`SmsError`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError


class SmsError(FerryError):
    code = "sms_failed"
    status = 502


@runtime_checkable
class SmsProvider(Protocol):
    def send(self, to: str, body: str) -> str:
        """Send ``body`` to ``to``; return the provider's message id."""
        ...


class TwilioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(default="https://api.twilio.com", max_length=500)
    account: str = Field(min_length=1, max_length=100)
    token: str = Field(min_length=1, max_length=200)
    sender: str = Field(min_length=1, max_length=40)
    timeout_s: float = Field(default=10.0, gt=0, le=60)


class TwilioSms:
    def __init__(self, config: TwilioConfig, transport: httpx.BaseTransport | None = None):
        self.config = config
        self.transport = transport

    def send(self, to: str, body: str) -> str:
        c = self.config
        url = f"{c.base_url.rstrip('/')}/2010-04-01/Accounts/{c.account}/Messages.json"
        try:
            with httpx.Client(timeout=c.timeout_s, transport=self.transport) as client:
                answer = client.post(
                    url, data={"To": to, "From": c.sender, "Body": body}, auth=(c.account, c.token)
                )
        except httpx.HTTPError as err:
            raise SmsError(f"the SMS provider could not be reached: {type(err).__name__}") from None
        if answer.status_code >= 300:
            raise SmsError(f"the SMS provider refused the message (HTTP {answer.status_code})")
        try:
            sid = answer.json()["sid"]
        except (ValueError, KeyError, TypeError):
            raise SmsError("the SMS provider's answer had no message id") from None
        return str(sid)[:100]


class OutboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: Path


class OutboxSms:
    """The embedded default: each message is a JSON file in ``var/sms-outbox/``."""

    def __init__(self, config: OutboxConfig) -> None:
        self.config = config

    def send(self, to: str, body: str) -> str:
        folder = self.config.folder
        folder.mkdir(parents=True, exist_ok=True)
        sid = uuid.uuid4().hex
        tmp = folder / f".{sid}.tmp"
        tmp.write_text(json.dumps({"to": to, "body": body, "at": utcnow().isoformat()}))
        tmp.replace(folder / f"{utcnow():%Y%m%dT%H%M%S%f}-{sid[:8]}.json")
        return sid


PROVIDERS: dict[str, Callable[[dict[str, object]], SmsProvider]] = {
    "twilio": lambda cfg: TwilioSms(TwilioConfig.model_validate(cfg)),
    "outbox": lambda cfg: OutboxSms(OutboxConfig.model_validate(cfg)),
}
"""SMS providers keyed by the name in ``FERRY_SMS_PROVIDER``."""


def provider(name: str, config: dict[str, object]) -> SmsProvider:
    """The SMS provider called ``name``; ``SmsError`` if unknown or badly configured."""
    factory = PROVIDERS.get(name)
    if factory is None:
        raise SmsError(
            f"unknown SMS provider {name!r}; set FERRY_SMS_PROVIDER to one of "
            f"{', '.join(PROVIDERS)}"
        )
    try:
        return factory(config)
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors() if e["loc"])
        raise SmsError(f"the SMS provider {name!r} is not configured: check {fields}") from None
