"""age encryption (pyrage) for delivery: to a recipient's X25519 key, or with a passphrase."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyrage

_MAX_PASSPHRASE_BYTES = 2 * 2**30  # pyrage encrypts passphrase files in memory


class AgeError(Exception):
    pass


def recipient(text: str) -> pyrage.x25519.Recipient:
    try:
        return pyrage.x25519.Recipient.from_str(text.strip())
    except Exception as exc:  # pyrage raises its own error types
        raise AgeError(f"not an age X25519 recipient (age1...): {exc}") from None


def encrypt_to(chunks: Iterable[bytes], dst: Path, recipients: list[str]) -> None:
    """Stream ``chunks`` into an age file for the given ``age1...`` recipients."""
    keys = [recipient(r) for r in recipients]
    with dst.open("wb") as writer:
        pyrage.encrypt_io(io.BufferedReader(_ChunkReader(chunks)), writer, keys)


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (no plaintext on disk)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._left = nxt
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def encrypt_with_passphrase(chunks: Iterable[bytes], dst: Path, passphrase: str) -> None:
    if len(passphrase) < 12:
        raise AgeError("use a passphrase of at least 12 characters")
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > _MAX_PASSPHRASE_BYTES:
            raise AgeError("too large for passphrase encryption; use a recipient key instead")
    dst.write_bytes(pyrage.passphrase.encrypt(bytes(data), passphrase))
