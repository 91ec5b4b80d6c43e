"""Who is calling: a tenant's API key, a BPO admin key, or the person with their access token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ferry.crypto.tokens import API_KEY_PREFIX
from ferry.domain.errors import Forbidden
from ferry.services.tenants import Principal, Unauthorized, authenticate

_bearer = HTTPBearer(auto_error=False, description="API key from `ferry apikey create`")

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def optional_principal(creds: Credentials) -> Principal | None:
    if creds is None or not creds.credentials.startswith(API_KEY_PREFIX):
        return None
    return authenticate(creds.credentials)


def principal(creds: Credentials) -> Principal:
    if creds is None:
        raise Unauthorized("this route needs `Authorization: Bearer KEY` (ferry apikey create)")
    return authenticate(creds.credentials)


def bearer_token(creds: Credentials) -> str | None:
    return creds.credentials if creds else None


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_admin:
        raise Forbidden("only a BPO admin key may do this (ferry apikey create --admin)")
    return who


def check_tenant(who: Principal, slug: str) -> None:
    if not who.is_admin and who.tenant_slug != slug:
        raise Forbidden("this API key belongs to another tenant", code="wrong_tenant")


Caller = Annotated[Principal, Depends(principal)]
MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
Admin = Annotated[Principal, Depends(admin)]
Token = Annotated[str | None, Depends(bearer_token)]
