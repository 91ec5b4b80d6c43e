"""A receiving provider for HTTPS-push tests: verifies the RFC 9421 signature with the sender's
public key, decrypts the age payload, checks the package digest and drops repeats by key."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ferry.crypto import httpsig


@dataclass
class Receiver:
    identity: Any = field(default_factory=pyrage.x25519.Identity.generate)
    trusted: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    fail_first: int = 0  # answer 503 to this many requests
    delay_s: float = 0.0
    posts: int = 0
    rejected: list[str] = field(default_factory=list)
    stored: dict[str, bytes] = field(default_factory=dict)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def age_recipient(self) -> str:
        return str(self.identity.to_public())

    async def receive(self, request: Request) -> JSONResponse:
        self.posts += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_first > 0:
            self.fail_first -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        body = await request.body()
        message = SimpleNamespace(
            method=request.method, url=str(request.url), headers=dict(request.headers)
        )
        try:
            httpsig.verify(message, self.trusted, body=body)
        except Exception as exc:
            self.rejected.append(f"{type(exc).__name__}: {exc}")
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers["idempotency-key"]
        if key in self.acks:
            return JSONResponse(self.acks[key], status_code=200)
        plain = pyrage.decrypt(body, [self.identity])
        digest = hashlib.sha256(plain).hexdigest()
        if digest != request.headers["x-ferry-package-sha256"]:
            return JSONResponse({"error": "digest mismatch"}, status_code=422)
        self.stored[key] = plain
        self.acks[key] = {
            "received": True,
            "package_sha256": digest,
            "id": f"rcv-{len(self.stored)}",
        }
        return JSONResponse(self.acks[key], status_code=201)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/inbox", self.receive, methods=["POST"]),
                Route("/plain", self.plain, methods=["POST"]),
            ]
        )

    async def plain(self, request: Request) -> JSONResponse:
        """Baseline for benchmarks: take the bytes, no signature, no decryption."""
        body = await request.body()
        return JSONResponse({"bytes": len(body)})
