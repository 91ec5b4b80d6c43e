"""Every error leaves the API as JSON ``{"code": ..., "message": ...}`` with a 4xx/5xx status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ferry.api.schemas.tenants import ErrorOut
from ferry.domain.errors import FerryError

log = logging.getLogger("ferry.api")


def error_responses(extra: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, each with the ``{"code", "message"}`` body.

    ``extra`` adds statuses one route may also answer, e.g. ``{423: "Verification locked"}``.
    """
    texts = {**_COMMON, **(extra or {})}
    return {status: {"model": ErrorOut, "description": text} for status, text in texts.items()}


_COMMON = {
    400: "Malformed request (e.g. broken JSON)",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible in the request's current state",
    422: "Invalid input",
    500: "Something went wrong on our side (logged; nothing accepted is lost)",
}

ERROR_RESPONSES = error_responses()


def _body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


async def ferry_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FerryError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(_body(exc.code, exc.message), status_code=exc.status, headers=headers)


def _field(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse(_body("malformed_json", "the request body is not valid JSON"), 400)
    details = [{"field": _field(e), "problem": str(e.get("msg", ""))} for e in errors]
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
    return JSONResponse(_body("invalid_input", summary, details=details), status_code=422)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        _body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        _body(
            "internal_error",
            "something went wrong on our side; it was logged, and nothing you sent was lost",
        ),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(FerryError, ferry_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
