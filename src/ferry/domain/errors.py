"""Errors the domain raises. Each has a stable ``code`` and a message a person can act on."""

from __future__ import annotations


class FerryError(Exception):
    """Base error: ``code`` is stable for scripts, ``message`` is for people."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidInput(FerryError):
    code = "invalid_input"
    status = 422


class NotFound(FerryError):
    code = "not_found"
    status = 404


class IllegalTransition(FerryError):
    code = "illegal_transition"
    status = 409


class Conflict(FerryError):
    code = "conflict"
    status = 409


class Forbidden(FerryError):
    code = "forbidden"
    status = 403
