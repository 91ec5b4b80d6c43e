"""SFTP push: pinned host key, key authentication, temp name then atomic rename, checked upload.

The package is written as ``.NAME.partial``, read back and compared (size and SHA-256), then renamed
onto ``NAME`` (``posix-rename`` where the server has it, so a reader never sees half a file). If
``NAME`` is already there with the same digest, the earlier upload stands and nothing is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import posixpath
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import asyncssh
from pydantic import field_validator

from ferry.delivery.base import ChannelConfig, DeliveryError, Receipt, Shipment

_CHUNK = 256 * 1024


class SftpConfig(ChannelConfig):
    url: str
    host_key: str
    key_file: str
    timeout_s: float = 30.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "sftp" or not parts.hostname or not parts.username:
            raise ValueError("must look like sftp://USER@HOST:PORT/PATH")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str) -> str:
        try:
            asyncssh.import_public_key(value.strip())
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ValueError(f"is not an OpenSSH public key line ({exc})") from None
        return value.strip()

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, value: str) -> str:
        try:
            asyncssh.read_private_key(value)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise ValueError(f"cannot read an SSH private key from {value!r} ({exc})") from None
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 22

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.url).username or "")

    @property
    def folder(self) -> str:
        return unquote(urlsplit(self.url).path) or "."


class SftpChannel:
    name: ClassVar[str] = "sftp"

    def __init__(self, config: SftpConfig) -> None:
        self.config = config

    def deliver(self, shipment: Shipment) -> Receipt:
        return asyncio.run(self._deliver(shipment))

    async def _deliver(self, shipment: Shipment) -> Receipt:
        try:
            async with asyncio.timeout(self.config.timeout_s * 4):
                return await self._session(shipment)
        except TimeoutError:
            raise DeliveryError(
                f"the SFTP server {self.config.host}:{self.config.port} did not answer in time",
                code="sftp_timeout",
            ) from None

    async def _session(self, shipment: Shipment) -> Receipt:
        cfg = self.config
        try:
            async with (
                asyncssh.connect(
                    cfg.host,
                    cfg.port,
                    username=cfg.user,
                    client_keys=[_load_key(cfg.key_file)],
                    known_hosts=([asyncssh.import_public_key(cfg.host_key)], [], []),
                    connect_timeout=cfg.timeout_s,
                    agent_path=None,
                    password=None,
                    kbdint_auth=False,
                    config=[],
                ) as conn,
                conn.start_sftp_client() as sftp,
            ):
                return await _upload(sftp, cfg, shipment)
        except asyncssh.HostKeyNotVerifiable:
            raise DeliveryError(
                f"the SFTP server {cfg.host}:{cfg.port} showed a host key that is not the pinned "
                "one; check the recipient's key (nothing was sent)",
                code="sftp_host_key_mismatch",
                retryable=False,
            ) from None
        except asyncssh.PermissionDenied:
            raise DeliveryError(
                f"the SFTP server refused the login for {cfg.user!r} with our key; ask the "
                "recipient to authorise it (nothing was sent)",
                code="sftp_login_refused",
                retryable=False,
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise DeliveryError(
                f"SFTP to {cfg.host}:{cfg.port} failed: {type(exc).__name__}: {exc}",
                code="sftp_unreachable",
            ) from None


def _load_key(path: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.read_private_key(path)
    except (OSError, asyncssh.KeyImportError) as exc:
        raise DeliveryError(
            f"cannot read the SFTP key file {path}: {exc}", code="sftp_key_file", retryable=False
        ) from None


async def _upload(sftp: asyncssh.SFTPClient, cfg: SftpConfig, shipment: Shipment) -> Receipt:
    final = posixpath.join(cfg.folder, shipment.filename)
    temp = posixpath.join(cfg.folder, f".{shipment.filename}.partial")
    location = f"sftp://{cfg.user}@{cfg.host}:{cfg.port}{final}"
    if await _matches(sftp, final, shipment):
        return Receipt("sftp", location, {"sha256": shipment.sha256, "already_there": True})
    try:
        await _write(sftp, temp, shipment.path)
        if not await _matches(sftp, temp, shipment):
            await _remove(sftp, temp)
            raise DeliveryError(
                "the uploaded file does not match the package (size or SHA-256); it was removed "
                "and will be sent again",
                code="sftp_checksum_mismatch",
            )
        await _rename(sftp, temp, final)
    except asyncssh.SFTPError as exc:
        await _remove(sftp, temp)
        raise _sftp_error(exc, cfg) from None
    return Receipt(
        "sftp", location, {"sha256": shipment.sha256, "bytes": shipment.size, "checked": True}
    )


async def _write(sftp: asyncssh.SFTPClient, remote: str, local: Path) -> None:
    async with sftp.open(remote, "wb") as out:
        with local.open("rb") as src:
            while chunk := src.read(_CHUNK):
                await out.write(chunk)


async def _matches(sftp: asyncssh.SFTPClient, remote: str, shipment: Shipment) -> bool:
    """Size first (cheap), then the SHA-256 of the bytes read back from the server."""
    try:
        attrs = await sftp.stat(remote)
    except asyncssh.SFTPNoSuchFile:
        return False
    if attrs.size != shipment.size:
        return False
    digest = hashlib.sha256()
    async with sftp.open(remote, "rb") as back:
        while chunk := await back.read(_CHUNK):
            digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
    return digest.hexdigest() == shipment.sha256


async def _rename(sftp: asyncssh.SFTPClient, temp: str, final: str) -> None:
    try:
        await sftp.posix_rename(temp, final)
    except asyncssh.SFTPOpUnsupported:
        await sftp.rename(temp, final)


async def _remove(sftp: asyncssh.SFTPClient, remote: str) -> None:
    with contextlib.suppress(asyncssh.SFTPError):
        await sftp.remove(remote)


def _sftp_error(exc: asyncssh.SFTPError, cfg: SftpConfig) -> DeliveryError:
    reason = str(exc.reason or exc)
    full = isinstance(exc, asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded) or (
        "space" in reason.lower() or "quota" in reason.lower()
    )
    if full:
        return DeliveryError(
            f"the SFTP server {cfg.host} is out of disk space or quota ({reason}); the partial "
            "file was removed. Ask the recipient to free space, then retry with "
            "`ferry request deliver ID`",
            code="sftp_disk_full",
            retryable=False,
        )
    if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPNoSuchFile):
        return DeliveryError(
            f"the SFTP server refused to write to {cfg.folder}: {reason}",
            code="sftp_write_refused",
            retryable=False,
        )
    return DeliveryError(f"SFTP error from {cfg.host}: {reason}", code="sftp_error")
