"""The composition root: one ASGI app with the REST API and the portal."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ferry import __version__
from ferry.api import app as api_app
from ferry.api.errors import ferry_error
from ferry.domain.errors import FerryError
from ferry.web import centre, consent, portal, transfer, upload, verify_link


def create_app() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = FastAPI(
        title="Ferry",
        version=__version__,
        description="Data-portability requests for many client companies: intake, identity "
        "verification, collection, packaging and delivery, with a tamper-evident audit trail.",
    )
    api_app.install(app)
    portal.install(app)
    verify_link.install(app)
    centre.install(app)
    consent.install(app)
    transfer.install(app)
    upload.install(app)

    async def errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FerryError)
        if request.url.path.startswith("/p/"):
            return portal.error_page(request, exc)
        return await ferry_error(request, exc)

    app.add_exception_handler(FerryError, errors)
    return app
