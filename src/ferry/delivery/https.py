"""HTTPS push (direct transfer): the package encrypted to the recipient's age key, then POSTed with
an RFC 9421 signature (Ed25519), an ``Idempotency-Key`` and a ``Content-Digest``.

The receiver answers 2xx with a JSON acknowledgement naming the package's SHA-256; that answer is
the receipt. A resend with the same idempotency key must not create a second copy on the far side
(the receiver answers with its first acknowledgement). 5xx, 408, 429 and network errors may be
retried; any other 4xx (bad signature, unknown key) is final.
"""

from __future__ import annotations

import ipaddress
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import field_validator

from ferry.crypto import age, httpsig
from ferry.delivery.base import ChannelConfig, DeliveryError, Receipt, Shipment

_RETRY_STATUS = {408, 425, 429}
MEDIA_TYPE = "application/vnd.ferry.package+age"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpsConfig(ChannelConfig):
    url: str
    age_recipient: str
    timeout_s: float = 60.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "http" and _loopback(parts.hostname or ""):
            return value
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL (plain http only to a loopback address)")
        return value

    @field_validator("age_recipient")
    @classmethod
    def _age(cls, value: str) -> str:
        try:
            age.recipient(value)
        except age.AgeError:
            raise ValueError("is not an age X25519 recipient (age1…)") from None
        return value.strip()


def encrypt_for_recipient(source: Path, target: Path, age_recipient: str) -> None:
    """Encrypt a file to one age X25519 recipient."""
    with source.open("rb") as fh:
        age.encrypt_to(iter(lambda: fh.read(1 << 16), b""), target, [age_recipient])


class HttpsChannel:
    name: ClassVar[str] = "https"

    def __init__(self, config: HttpsConfig) -> None:
        self.config = config

    def deliver(self, shipment: Shipment) -> Receipt:
        with tempfile.TemporaryDirectory(prefix="ferry-push-") as tmp:
            sealed = Path(tmp) / (shipment.filename + ".age")
            encrypt_for_recipient(shipment.path, sealed, self.config.age_recipient)
            request = self._request(shipment, sealed)
            answer = self._send(request)
        return self._receipt(shipment, answer)

    def _request(self, shipment: Shipment, sealed: Path) -> httpx.Request:
        headers = {
            "Content-Type": MEDIA_TYPE,
            "Content-Digest": httpsig.file_digest(sealed),
            "Content-Length": str(sealed.stat().st_size),
            "Idempotency-Key": shipment.idempotency_key,
            "X-Ferry-Package-SHA256": shipment.sha256,
            "X-Ferry-Filename": shipment.filename,
        }
        request = httpx.Request("POST", self.config.url, headers=headers, content=_chunks(sealed))
        if shipment.signing_key is None:
            raise DeliveryError(
                "no signing key was given for this transfer; it was not sent",
                code="https_no_key",
                retryable=False,
            )
        httpsig.sign(request, shipment.signing_key)
        return request

    def _send(self, request: httpx.Request) -> httpx.Response:
        host = urlsplit(self.config.url).hostname
        try:
            with httpx.Client(timeout=self.config.timeout_s) as client:
                response = client.send(request)
                response.read()
        except httpx.TimeoutException:
            raise DeliveryError(
                f"the recipient {host} did not answer in time", code="https_timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"cannot reach the recipient {host}: {type(exc).__name__}: {exc}",
                code="https_unreachable",
            ) from None
        if response.status_code >= 500 or response.status_code in _RETRY_STATUS:
            raise DeliveryError(
                f"the recipient {host} answered {response.status_code}; will retry",
                code="https_peer_error",
            )
        if response.status_code >= 400:
            raise DeliveryError(
                f"the recipient {host} refused the transfer ({response.status_code}: "
                f"{response.text[:300]})",
                code="https_refused",
                retryable=False,
            )
        return response

    def _receipt(self, shipment: Shipment, response: httpx.Response) -> Receipt:
        try:
            ack: Any = response.json()
        except ValueError:
            ack = None
        if not isinstance(ack, dict) or ack.get("package_sha256") != shipment.sha256:
            raise DeliveryError(
                "the recipient's acknowledgement does not name this package's SHA-256; "
                "the transfer is not confirmed",
                code="https_bad_ack",
            )
        return Receipt("https", self.config.url, {"status": response.status_code, "ack": ack})


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            yield chunk
