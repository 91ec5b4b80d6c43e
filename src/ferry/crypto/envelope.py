"""Envelope encryption at rest: a per-file key (AES-256-GCM) wrapped by a tenant key.

File layout::

    b"FERRYENC1\\n"  4-byte big-endian header length  header (canonical JSON)
    chunk 0, chunk 1, ... each = AES-GCM(64 KiB of plaintext) with its 16-byte tag

The header holds the tenant key id, the wrapped file key (nonce + ciphertext) and a random
7-byte nonce prefix. Chunk ``i`` uses nonce ``prefix | i (4 bytes) | last (1 byte)`` and the
header as associated data (the STREAM construction): chunks cannot be reordered, dropped or
moved between files, and a truncated file fails at the end. Decryption streams chunk by
chunk, so memory stays small whatever the file size.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"FERRYENC1\n"
CHUNK = 1 << 16
_TAG = 16
_MAX_HEADER = 4096


class DecryptionFailed(Exception):
    """The file is damaged, truncated, or the key is wrong."""


def wrap(key: bytes, secret: bytes, context: bytes) -> bytes:
    """Encrypt a small secret under ``key``; ``context`` must be given again to unwrap."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, secret, context)


def unwrap(key: bytes, wrapped: bytes, context: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], context)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("the key does not open this secret (wrong key or damaged)") from None


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def encrypt_file(src: Path, dst: Path, tenant_key_id: str, tenant_key: bytes) -> None:
    """Encrypt ``src`` into ``dst`` under a fresh file key wrapped by the tenant key."""
    with src.open("rb") as fin:
        _encrypt(iter(lambda: fin.read(CHUNK), b""), dst, tenant_key_id, tenant_key)


def encrypt_bytes(data: bytes, dst: Path, tenant_key_id: str, tenant_key: bytes) -> None:
    """As :func:`encrypt_file`, from bytes in memory: the plaintext never touches the disk."""
    pieces = (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))
    _encrypt(pieces, dst, tenant_key_id, tenant_key)


def _encrypt(plain: Iterator[bytes], dst: Path, tenant_key_id: str, tenant_key: bytes) -> None:
    """Write ``dst`` (and fsync it) from ``plain``: pieces of ``CHUNK`` bytes, the last one
    possibly shorter; no pieces at all is an empty plaintext (one empty chunk)."""
    file_key, prefix = AESGCM.generate_key(bit_length=256), os.urandom(7)
    header = {
        "alg": "AES-256-GCM-STREAM",
        "chunk": CHUNK,
        "key_id": tenant_key_id,
        "nonce_prefix": base64.b64encode(prefix).decode(),
        "wrapped_key": base64.b64encode(wrap(tenant_key, file_key, b"ferry file key")).decode(),
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    aead = AESGCM(file_key)
    with dst.open("wb") as fout:
        fout.write(MAGIC + struct.pack(">I", len(head)) + head)
        index, chunk = 0, next(plain, b"")
        while True:
            following = next(plain, b"")
            last = not following
            fout.write(aead.encrypt(_nonce(prefix, index, last), chunk, head))
            if last:
                break
            index, chunk = index + 1, following
        fout.flush()
        os.fsync(fout.fileno())


def read_header(fh: IO[bytes]) -> tuple[dict[str, object], bytes]:
    if fh.read(len(MAGIC)) != MAGIC:
        raise DecryptionFailed("not a Ferry encrypted file")
    size = struct.unpack(">I", fh.read(4).rjust(4, b"\0"))[0]
    if size > _MAX_HEADER:
        raise DecryptionFailed("the encrypted file's header is damaged")
    head = fh.read(size)
    try:
        header = json.loads(head)
    except ValueError:
        raise DecryptionFailed("the encrypted file's header is damaged") from None
    if not isinstance(header, dict):
        raise DecryptionFailed("the encrypted file's header is damaged")
    return header, head


def key_id_of(path: Path) -> str:
    with path.open("rb") as fh:
        return str(read_header(fh)[0].get("key_id", ""))


def decrypt_chunks(path: Path, tenant_key: Callable[[str], bytes]) -> Iterator[bytes]:
    """Plaintext chunks of an encrypted file; ``tenant_key(key_id)`` gives the tenant key."""
    with path.open("rb") as fh:
        header, head = read_header(fh)
        try:
            wrapped = base64.b64decode(str(header["wrapped_key"]))
            prefix = base64.b64decode(str(header["nonce_prefix"]))
            size = int(str(header["chunk"])) + _TAG
        except (KeyError, ValueError):
            raise DecryptionFailed("the encrypted file's header is damaged") from None
        aead = AESGCM(unwrap(tenant_key(str(header.get("key_id"))), wrapped, b"ferry file key"))
        index, block = 0, fh.read(size)
        while True:
            following = fh.read(size)
            last = not following
            try:
                yield aead.decrypt(_nonce(prefix, index, last), block, head)
            except (InvalidTag, ValueError):
                raise DecryptionFailed(
                    f"the encrypted package is damaged or truncated (at chunk {index})"
                ) from None
            if last:
                return
            index, block = index + 1, following
