"""Checking a package offline: completeness, every checksum, Payload-Oxum and the signature.

Nothing is extracted: entries are hashed as streams, and ``max_total_bytes`` bounds what is
read, so a zip bomb costs bounded time. Every problem found is named in plain words.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ferry.crypto.signing import SIGNATURE_FILE, check_signature

BAGIT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    problems: list[str]
    files_checked: int = 0
    signed_by: str | None = None  # key id of a valid signature
    notes: list[str] = field(default_factory=list)


def verify_package(
    path: Path, *, max_total_bytes: int = 32 * 2**30, key: bytes | None = None
) -> VerifyReport:
    """Check a package zip; with ``key`` (raw Ed25519 public key) the signature must be by it."""
    check = _Check(max_total_bytes, key)
    check.run(Path(path))
    return VerifyReport(
        ok=not check.problems,
        problems=check.problems,
        files_checked=check.checked,
        signed_by=check.signed_by,
        notes=check.notes,
    )


_LINE = re.compile(r"([0-9a-fA-F]{64})[ \t]+(\S.*)")
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError)
_SMALL = 64 * 2**20  # tag files larger than this are refused, not read into memory
Entries = dict[str, zipfile.ZipInfo]


def unsafe_reason(name: str) -> str | None:
    """Why a zip entry name could escape the folder it is unzipped into, or None."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "is an absolute path"
    if "\\" in name:
        return "contains a backslash"
    if ".." in name.split("/"):
        return "climbs out of its folder (..)"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "contains control characters"
    return None


class _Check:
    def __init__(self, max_total_bytes: int, key: bytes | None = None) -> None:
        self.budget = max_total_bytes
        self.key = key
        self.signed_by: str | None = None
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.checked = 0
        self.entries: Entries = {}

    def run(self, path: Path) -> None:
        if not path.is_file():
            self.problems.append(f"{path} is not a file (missing, or a folder)")
            return
        try:
            with zipfile.ZipFile(path) as zf:
                self._check(zf)
        except _READ_ERRORS as exc:
            self.problems.append(_not_a_zip(path, exc))

    def _check(self, zf: zipfile.ZipFile) -> None:
        self.zf, self.entries = zf, self._list(zf)
        bagit = self._read_small(BAGIT)
        if bagit is not None and not bagit.startswith(b"BagIt-Version:"):
            self.problems.append(f"{BAGIT} does not start with 'BagIt-Version:'")
        text = self._read_small(MANIFEST)
        if text is None:
            return
        payload = {n: i for n, i in self.entries.items() if n.startswith("data/")}
        self._compare(MANIFEST, self._parse(MANIFEST, text, True), payload)
        self._check_oxum(payload)
        if TAGMANIFEST in self.entries:
            tags = {n: i for n, i in self.entries.items() if not n.startswith("data/")}
            del tags[TAGMANIFEST]
            tags.pop(SIGNATURE_FILE, None)
            signed = self._read_small(TAGMANIFEST) or b""
            self._compare(TAGMANIFEST, self._parse(TAGMANIFEST, signed, False), tags)
            self._check_signature(signed)
        elif self.key is not None:
            self.problems.append(f"{TAGMANIFEST} is missing, so the signature cannot be checked")

    def _check_signature(self, signed: bytes) -> None:
        if SIGNATURE_FILE not in self.entries:
            if self.key is not None:
                self.problems.append(f"the package is not signed ({SIGNATURE_FILE} is missing)")
            else:
                self.notes.append("the package is not signed")
            return
        result = check_signature(self._read_small(SIGNATURE_FILE) or b"", signed, self.key)
        if not result.ok:
            self.problems.append(f"signature: {result.problem}")
            return
        self.signed_by = result.key_id
        if self.key is None:
            self.notes.append(
                f"signature valid, by key {result.key_id}; pass --key with the company's "
                "published key to check it is theirs"
            )

    def _list(self, zf: zipfile.ZipFile) -> Entries:
        entries: Entries = {}
        for info in zf.infolist():
            name = info.filename
            reason = unsafe_reason(name)
            if reason:
                self.problems.append(f"unsafe entry name {name!r}: it {reason}")
            elif stat.S_ISLNK(info.external_attr >> 16):
                self.problems.append(f"{name} is a symbolic link; packages never contain links")
            elif name in entries:
                self.problems.append(f"{name} appears more than once in the zip")
            elif not info.is_dir():
                entries[name] = info
        return entries

    def _read_small(self, name: str) -> bytes | None:
        info = self.entries.get(name)
        if info is None:
            self.problems.append(f"{name} is missing, so this is not a complete Ferry package")
            return None
        if info.file_size > _SMALL:
            self.problems.append(f"{name} is {info.file_size} bytes, too large for a tag file")
            return None
        try:
            with self.zf.open(info) as fh:
                return fh.read(_SMALL)
        except _READ_ERRORS as exc:
            self.problems.append(f"{name} is damaged and cannot be read ({exc})")
            return None

    def _parse(self, where: str, text: bytes, payload: bool) -> dict[str, str]:
        try:
            lines = text.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            self.problems.append(f"{where} is not UTF-8 text")
            return {}
        listed: dict[str, str] = {}
        for number, line in enumerate(lines, 1):
            match = _LINE.fullmatch(line)
            name = match.group(2) if match else ""
            if not line.strip():
                continue
            if not match:
                expected = "expected '<64 hex digits>  <path>'"
                self.problems.append(f"{where} line {number} is malformed ({expected}): {line!r}")
            elif unsafe_reason(name) or name.startswith("data/") != payload:
                self.problems.append(f"{where} line {number} lists a path not allowed: {name!r}")
            elif name in listed:
                self.problems.append(f"{where} line {number} lists {name} a second time")
            else:
                listed[name] = match.group(1).lower()
        return listed

    def _compare(self, where: str, listed: dict[str, str], present: Entries) -> None:
        for name, expected in sorted(listed.items()):
            info = present.get(name)
            if info is None:
                self.problems.append(f"{name} is listed in {where} but missing from the package")
                continue
            actual = self._hash(info)
            if actual is not None and actual != expected:
                msg = f"checksum mismatch for {name}: {where} says {expected}, file has {actual}"
                self.problems.append(msg)
        for name in sorted(present.keys() - listed.keys()):
            self.problems.append(f"{name} is in the package but not listed in {where}")

    def _hash(self, info: zipfile.ZipInfo) -> str | None:
        if info.file_size > self.budget:
            self.problems.append(f"{info.filename} not checked: over the size limit for checks")
            return None
        self.budget -= info.file_size
        digest = hashlib.sha256()
        try:
            with self.zf.open(info) as fh:  # reads at most file_size bytes; CRC checked at end
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
        except _READ_ERRORS as exc:
            self.problems.append(f"{info.filename} is damaged and cannot be read ({exc})")
            return None
        self.checked += info.filename.startswith("data/")
        return digest.hexdigest()

    def _check_oxum(self, payload: Entries) -> None:
        text = self._read_small(BAG_INFO)
        if text is None:
            return
        found = re.search(rb"^Payload-Oxum:[ \t]*(\S*)", text, re.MULTILINE)
        said = found.group(1).decode("utf-8", "replace") if found else None
        actual = f"{sum(i.file_size for i in payload.values())}.{len(payload)}"
        if said is None:
            self.problems.append(f"{BAG_INFO} has no Payload-Oxum line")
        elif said != actual:
            self.problems.append(
                f"Payload-Oxum mismatch: {BAG_INFO} says {said} (bytes.files), package has {actual}"
            )


def _not_a_zip(path: Path, exc: BaseException) -> str:
    if not isinstance(exc, zipfile.BadZipFile | EOFError):
        return f"{path.name} cannot be read: {exc}"
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PK\x03\x04":
        return f"{path.name} is a damaged or truncated zip ({exc}); fetch the package again"
    return f"{path.name} is not a zip file, so it is not a Ferry package"
