"""Verification methods keyed by name; each is built from its Pydantic config (or defaults)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ferry.domain.errors import InvalidInput
from ferry.verify.agents import AgentAttested, AuthorizedAgent
from ferry.verify.base import VerificationMethod
from ferry.verify.codes import EmailCode, MagicLink, SmsCode
from ferry.verify.document import DocumentReview
from ferry.verify.knowledge import Knowledge
from ferry.verify.totp import Totp

Factory = Callable[[Mapping[str, Any]], VerificationMethod]

METHODS: dict[str, Factory] = {
    EmailCode.name: EmailCode.build,
    MagicLink.name: MagicLink.build,
    SmsCode.name: SmsCode.build,
    Totp.name: Totp.build,
    Knowledge.name: Knowledge.build,
    DocumentReview.name: DocumentReview.build,
    AuthorizedAgent.name: AuthorizedAgent.build,
    AgentAttested.name: AgentAttested.build,
}
"""Every verification method Ferry knows, by the name policies and the CLI use."""


def names() -> list[str]:
    return list(METHODS)


def method(name: str, config: Mapping[str, Any] | None = None) -> VerificationMethod:
    """The method called ``name``, configured; ``InvalidInput`` names the choices."""
    factory = METHODS.get(name)
    if factory is None:
        raise InvalidInput(
            f"unknown verification method {name!r}; use one of: {', '.join(METHODS)}",
            code="unknown_method",
        )
    try:
        return factory(config or {})
    except ValidationError as err:
        raise InvalidInput(f"settings for method {name!r} are not valid: {err}") from None
