"""The delivered package: a deterministic BagIt-style zip (RFC 8493 names), and its checker.

Layout (entries in this fixed order)::

    bagit.txt                  version and encoding
    data/<system>/<dataset>.json   one per dataset, sorted, empty datasets included
    data/README.txt            plain-language guide
    bag-info.txt               tenant, request id, date, Payload-Oxum
    manifest-sha256.txt        "<sha256>  data/<path>" for every payload file, sorted
    tagmanifest-sha256.txt     checksums of the tag files above

Each entry is streamed into the zip and hashed while written; the zip is built in a temporary
file beside ``path`` and renamed into place, so a crash never leaves half a package there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NamedTuple

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import HashingSink, write_dataset
from ferry.export.readme import BAGIT_TXT, ReadmeEntry, bag_info, manifest_text, render_readme

BAGIT = "bagit.txt"
BAG_INFO = "bag-info.txt"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
README = "data/README.txt"
_CHUNK = 1 << 16
_MAX_NAME = 60
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)}


@dataclass(frozen=True)
class PackageMeta:
    """What the package says about itself. ``subject_label`` describes the person, never names
    their address (e.g. "the person who asked")."""

    tenant: str
    request_id: str
    created: datetime
    subject_label: str = "the person who asked"
    kind: str = "access"
    scope: str = "all the data we hold about you"


class PackageFile(NamedTuple):
    name: str  # path inside the zip, e.g. "data/crm/customers.json"
    sha256: str
    bytes: int
    rows: int | None  # None for files that are not datasets (README)


@dataclass(frozen=True)
class PackageInfo:
    path: Path
    sha256: str
    size: int
    files: list[PackageFile]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    problems: list[str]
    files_checked: int = 0


# --- names -------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """One path component that is safe on every OS: letters, digits and ``-_.`` only."""
    text = unicodedata.normalize("NFKC", name)
    kept = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
    kept = re.sub(r"\.{2,}", ".", kept).strip(".")[:_MAX_NAME].strip(".")
    if not kept:
        return "unnamed"
    if kept.split(".")[0].upper() in _RESERVED:
        return "_" + kept
    return kept


class _Namer:
    """Hands out names unique regardless of case (so nothing overwrites on Windows/macOS)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = {t.casefold() for t in taken}

    def claim(self, base: str, suffix: str = "") -> str:
        candidate, n = base, 1
        while (candidate + suffix).casefold() in self._taken:
            n += 1
            candidate = f"{base}-{n}"
        self._taken.add((candidate + suffix).casefold())
        return candidate + suffix


def plan_names(datasets: Iterable[DatasetRows]) -> list[tuple[str, DatasetRows]]:
    """Sorted ``(zip name, dataset)`` pairs; colliding names get ``-2``, ``-3``... suffixes."""
    ordered = sorted(datasets, key=lambda d: (d.system, d.dataset))
    top = _Namer(["README.txt"])
    dirs: dict[str, str] = {}
    files: dict[str, _Namer] = {}
    planned = []
    for data in ordered:
        if data.system not in dirs:
            dirs[data.system] = top.claim(safe_name(data.system))
            files[dirs[data.system]] = _Namer()
        folder = dirs[data.system]
        filename = files[folder].claim(safe_name(data.dataset), ".json")
        planned.append((f"data/{folder}/{filename}", data))
    return planned


# --- writing -----------------------------------------------------------------------------


def _zip_time(created: datetime) -> tuple[int, int, int, int, int, int]:
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    year = min(max(created.year, 1980), 2107)
    return (year, created.month, created.day, created.hour, created.minute, created.second)


def _zip_info(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the permissions below mean the same everywhere
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


class _Bag:
    def __init__(self, zf: zipfile.ZipFile, created: datetime) -> None:
        self.zf = zf
        self.stamp = _zip_time(created)

    def put(self, name: str, content: bytes | DatasetRows) -> PackageFile:
        with self.zf.open(_zip_info(name, self.stamp), "w", force_zip64=True) as raw:
            out, rows = HashingSink(raw), None
            if isinstance(content, DatasetRows):
                rows = write_dataset(out, content)
            else:
                out.write(content)
            out.flush()
        return PackageFile(name, out.hexdigest(), out.size, rows)


def _readme(
    meta: PackageMeta, planned: list[tuple[str, DatasetRows]], files: list[PackageFile]
) -> bytes:
    entries = [
        ReadmeEntry(f.name.removeprefix("data/"), d.system, d.dataset, f.rows or 0, f.bytes)
        for (_, d), f in zip(planned, files, strict=True)
    ]
    return render_readme(meta, entries).encode("utf-8")


def _write_zip(
    raw: IO[bytes], planned: list[tuple[str, DatasetRows]], meta: PackageMeta
) -> list[PackageFile]:
    with zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
        bag = _Bag(zf, meta.created)
        tags = [bag.put(BAGIT, BAGIT_TXT)]
        files = [bag.put(name, data) for name, data in planned]
        files.append(bag.put(README, _readme(meta, planned, files)))
        files.sort(key=lambda f: f.name)
        tags.append(bag.put(BAG_INFO, bag_info(meta, [f.bytes for f in files])))
        tags.append(bag.put(MANIFEST, manifest_text((f.name, f.sha256) for f in files)))
        bag.put(TAGMANIFEST, manifest_text((f.name, f.sha256) for f in tags))
    return files


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not on Windows: the rename is still atomic there
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_package(path: Path, datasets: Iterable[DatasetRows], meta: PackageMeta) -> PackageInfo:
    """Write the package to ``path`` (atomically) and describe what was written.

    The same datasets and meta give the same bytes, whatever order the datasets come in
    (datasets sharing a system and dataset name keep their given order).
    """
    path = Path(path)
    planned = plan_names(datasets)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as raw:
            files = _write_zip(raw, planned, meta)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    digest, size = _hash_file(path)
    return PackageInfo(path=path, sha256=digest, size=size, files=files)


def verify_package(path: Path, *, max_total_bytes: int = 32 * 2**30) -> VerifyReport:
    """Check a package zip offline without extracting it; every problem is named.

    Entries are hashed as streams, so memory stays small; ``max_total_bytes`` bounds the
    uncompressed bytes read, so a zip bomb costs bounded time.
    """
    check = _Check(max_total_bytes)
    check.run(Path(path))
    return VerifyReport(ok=not check.problems, problems=check.problems, files_checked=check.checked)


# --- verifying ---------------------------------------------------------------------------

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
    def __init__(self, max_total_bytes: int) -> None:
        self.budget = max_total_bytes
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
            listed = self._parse(TAGMANIFEST, self._read_small(TAGMANIFEST) or b"", False)
            self._compare(TAGMANIFEST, listed, tags)

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
