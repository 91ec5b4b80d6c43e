"""The /api/v1 router and its error handling."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ferry import __version__
from ferry.api import errors
from ferry.api.routes import (
    clock,
    collection,
    consents,
    downloads,
    keys,
    opendsr,
    requests,
    tenants,
    transfers,
    verify,
)


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    api.include_router(tenants.router)
    api.include_router(requests.router)
    api.include_router(downloads.router)
    api.include_router(verify.router)
    api.include_router(clock.router)
    api.include_router(collection.router)
    api.include_router(transfers.router)
    api.include_router(consents.router)
    api.include_router(keys.router)

    @api.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return api


def install(app: FastAPI) -> None:
    errors.install(app)
    app.include_router(router())
    app.include_router(opendsr.router)
    app.include_router(keys.well_known)
