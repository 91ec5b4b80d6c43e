"""The delivered package: a deterministic BagIt bag (RFC 8493) in a zip (zip64), and its writer.

Layout (entries in this order)::

    bagit.txt                          version and encoding
    data/<system>/<dataset>.<ext>      one file per dataset and chosen format (json, csv, xml
                                       + xsd, vcf, ics), sorted; empty datasets included
    data/index.html                    the readable report (rows included when html is chosen)
    data/README.txt                    plain-language guide
    data/datapackage.json              Frictionless Data Package v2 describing every file
    bag-info.txt                       organisation, request id, date, Payload-Oxum
    manifest-sha256.txt                "<sha256>  data/<path>" for every payload file, sorted
    tagmanifest-sha256.txt             checksums of the tag files above
    signature-ed25519.txt              Ed25519 signature over tagmanifest-sha256.txt (if signed)

Members shorter than 4 KiB (``zipmem.STORE_BELOW``: tag files, a few rows, the guides of a
small package) are stored, longer ones deflated. Each entry is streamed into the zip and
hashed while written; the zip is built in a temporary file beside ``path`` and renamed into
place, so a crash never leaves half a package there.
A small package (up to 5,000 rows) is built in memory instead (``ferry.export.zipmem``), byte
for byte the same archive, and written with one call.
Checking lives in ``ferry.export.verify``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import stat
import threading
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, NamedTuple, Protocol

from ferry.crypto.signing import SIGNATURE_FILE, Signer
from ferry.domain.models import DatasetRows
from ferry.export.datapackage import Resource, datapackage
from ferry.export.jsonenc import BytesSink, HashingSink
from ferry.export.readme import BAGIT_TXT, ReadmeEntry, bag_info, manifest_text, render_readme
from ferry.export.report import ReportEntry, write_report
from ferry.export.schema import DatasetSchema, infer_schema
from ferry.export.verify import (
    BAG_INFO,
    BAGIT,
    MANIFEST,
    TAGMANIFEST,
    VerifyReport,
    unsafe_reason,
    verify_package,
)
from ferry.export.writers import REPORT_FORMAT, Writer, WriterOptions, get_writer
from ferry.export.zipmem import STORE_BELOW, MemoryZip, TooBig

README = "data/README.txt"
INDEX = "data/index.html"
DATAPACKAGE = "data/datapackage.json"
_MAX_NAME = 60
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)}
_TOP_FILES = ("README.txt", "index.html", "datapackage.json")
_IN_MEMORY_ROWS = 5_000  # up to this many rows, the zip is built in memory (a few MB at most)

__all__ = [
    "PackageFile",
    "PackageInfo",
    "PackageMeta",
    "PackagePlan",
    "VerifyReport",
    "build_planned",
    "fsync_dir",
    "plan_names",
    "safe_name",
    "unsafe_reason",
    "verify_package",
    "write_package",
]


@dataclass(frozen=True)
class PackageMeta:
    """What the package says about itself. ``subject_label`` describes the person, never names
    their address (e.g. "the person who asked"). ``formats`` are writer names plus ``html``."""

    tenant: str
    request_id: str
    created: datetime
    subject_label: str = "the person who asked"
    kind: str = "access"
    scope: str = "all the data we hold about you"
    formats: tuple[str, ...] = ("json",)
    csv_bom: bool = False


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
    signed_by: str | None = None


# --- names -------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def safe_name(name: str) -> str:
    """One path component that is safe on every OS: letters, digits and ``-_.`` only.
    (A pure function of a system's or dataset's name: cached.)"""
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
    """Sorted ``(zip name stem, dataset)`` pairs, e.g. ``data/crm/customers`` (each format
    adds its extension); colliding names get ``-2``, ``-3``... suffixes."""
    ordered = sorted(datasets, key=lambda d: (d.system, d.dataset))
    stems = _stems(tuple((d.system, d.dataset) for d in ordered))
    return list(zip(stems, ordered, strict=True))


@lru_cache(maxsize=1024)
def _stems(names: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The zip name stem of each ``(system, dataset)``, in the order given: a pure function
    of the names, cached (the same datasets come back request after request)."""
    top = _Namer(_TOP_FILES)
    dirs: dict[str, str] = {}
    files: dict[str, _Namer] = {}
    stems = []
    for system, dataset in names:
        if system not in dirs:
            dirs[system] = top.claim(safe_name(system))
            files[dirs[system]] = _Namer()
        folder = dirs[system]
        stems.append(f"data/{folder}/{files[folder].claim(safe_name(dataset))}")
    return tuple(stems)


# --- writing -----------------------------------------------------------------------------

Content = bytes | Callable[[BytesSink], int | None]
_MODE = stat.S_IFREG | 0o644


def _zip_time(created: datetime) -> tuple[int, int, int, int, int, int]:
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    year = min(max(created.year, 1980), 2107)
    return (year, created.month, created.day, created.hour, created.minute, created.second)


def _zip_info(
    name: str, stamp: tuple[int, int, int, int, int, int], size: int | None = None
) -> zipfile.ZipInfo:
    """``size``: the member's length when known; shorter than ``STORE_BELOW`` is stored."""
    info = zipfile.ZipInfo(name, date_time=stamp)
    small = size is not None and size < STORE_BELOW
    info.compress_type = zipfile.ZIP_STORED if small else zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the permissions below mean the same everywhere
    info.external_attr = _MODE << 16
    return info


class _Bag(Protocol):
    def put(self, name: str, content: Content) -> PackageFile: ...


class _Held:
    """Holds a member's first bytes until it is known to be short (then it is stored whole)
    or reaches ``STORE_BELOW`` bytes (then a deflated entry is opened and the rest streams)."""

    def __init__(self, bag: _ZipBag, name: str) -> None:
        self.bag, self.name = bag, name
        self.parts: list[bytes] = []
        self.size = 0
        self.entry: IO[bytes] | None = None

    def write(self, data: bytes, /) -> int:
        if self.entry is not None:
            self.entry.write(data)
            return len(data)
        self.parts.append(data)
        self.size += len(data)
        if self.size >= STORE_BELOW:
            self.entry = self.bag.open(self.name, None)
            self.entry.write(b"".join(self.parts))
            self.parts = []
        return len(data)

    def finish(self) -> None:
        if self.entry is None:
            data = b"".join(self.parts)
            with self.bag.open(self.name, len(data)) as entry:
                entry.write(data)
        else:
            self.entry.close()


class _ZipBag:
    """Streams each entry into a ``zipfile`` archive (any size)."""

    def __init__(self, zf: zipfile.ZipFile, created: datetime) -> None:
        self.zf = zf
        self.stamp = _zip_time(created)

    def open(self, name: str, size: int | None) -> IO[bytes]:
        return self.zf.open(_zip_info(name, self.stamp, size), "w", force_zip64=True)

    def put(self, name: str, content: Content) -> PackageFile:
        held = _Held(self, name)
        out, rows = HashingSink(held), None
        try:
            if isinstance(content, bytes):
                out.write(content)
            else:
                rows = content(out)
            out.flush()
        except BaseException:
            if held.entry is not None:  # the zip cannot be closed while an entry is open
                held.entry.close()
            raise
        held.finish()
        return PackageFile(name, out.hexdigest(), out.size, rows)


class _Chunks:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self.parts.append(data)
        return len(data)


class _MemoryBag:
    """Builds the same archive in memory, each entry rendered whole first (small packages)."""

    def __init__(self, created: datetime) -> None:
        self.zip = MemoryZip(_zip_time(created), _MODE)

    def put(self, name: str, content: Content) -> PackageFile:
        rows = None
        if isinstance(content, bytes):
            data = content
        else:
            sink = _Chunks()
            rows = content(sink)
            data = b"".join(sink.parts)
        self.zip.add(name, data)
        return PackageFile(name, hashlib.sha256(data).hexdigest(), len(data), rows)


@dataclass
class _Planned:
    stem: str
    data: DatasetRows
    schema: DatasetSchema


def _writers(meta: PackageMeta) -> list[Writer]:
    options = WriterOptions(csv_bom=meta.csv_bom, stamp=meta.created)
    return [get_writer(name, options) for name in meta.formats if name != REPORT_FORMAT]


class _Payload:
    """Writes the data files of every dataset, then the report, README and datapackage."""

    def __init__(self, bag: _Bag, plan: PackagePlan) -> None:
        self.bag, self.meta, self.planned, self.writers = bag, plan.meta, plan.planned, plan.writers
        self.files: list[PackageFile] = []
        self.resources: list[Resource] = []
        self.by_dataset: dict[int, list[str]] = {}

    def write_datasets(self) -> None:
        for index, item in enumerate(self.planned):
            for writer in self.writers:
                if writer.fits(item.data):
                    self._one(index, item, writer)

    def _one(self, index: int, item: _Planned, writer: Writer) -> None:
        name = f"{item.stem}.{writer.extension}"
        done = self.bag.put(name, lambda sink: writer.write(sink, item.data, item.schema))
        self._add(index, item, done, writer.name, writer.media_type)
        companion = getattr(writer, "companion", None)
        if companion is not None:
            ext, content = companion(item.data, item.schema)
            self._add(index, item, self.bag.put(f"{item.stem}.{ext}", content), ext, "text/xml")

    def _add(self, index: int, item: _Planned, done: PackageFile, fmt: str, media: str) -> None:
        self.files.append(done)
        self.by_dataset.setdefault(index, []).append(done.name.removeprefix("data/"))
        resource = Resource(
            path=done.name.removeprefix("data/"),
            format=fmt,
            media_type=media,
            data=item.data,
            schema=item.schema,
            rows=done.rows or 0,
            bytes=done.bytes,
            sha256=done.sha256,
        )
        self.resources.append(resource)

    def write_guides(self) -> None:
        entries = [
            ReportEntry(p.data, p.schema, tuple(self.by_dataset.get(i, [])))
            for i, p in enumerate(self.planned)
        ]
        full = REPORT_FORMAT in self.meta.formats
        others = [(f.name.removeprefix("data/"), f.bytes) for f in self.files]
        self.files.append(
            self.bag.put(INDEX, lambda sink: write_report(sink, self.meta, entries, full, others))
        )
        readme = [
            ReadmeEntry(r.path, r.data.system, r.data.dataset, r.rows, r.bytes)
            for r in self.resources
        ]
        text = render_readme(self.meta, readme).encode("utf-8")
        self.files.append(self.bag.put(README, text))
        self.files.append(self.bag.put(DATAPACKAGE, datapackage(self.meta, self.resources)))


def _fill(bag: _Bag, plan: PackagePlan, signer: Signer | None) -> list[PackageFile]:
    meta = plan.meta
    tags = [bag.put(BAGIT, BAGIT_TXT)]
    payload = _Payload(bag, plan)
    payload.write_datasets()
    payload.write_guides()
    files = sorted(payload.files, key=lambda f: f.name)
    tags.append(bag.put(BAG_INFO, bag_info(meta, [f.bytes for f in files])))
    tags.append(bag.put(MANIFEST, manifest_text((f.name, f.sha256) for f in files)))
    signed = manifest_text((f.name, f.sha256) for f in tags)
    bag.put(TAGMANIFEST, signed)
    if signer is not None:
        bag.put(SIGNATURE_FILE, signer.signature_file(signed))
    return files


def _write_zip(raw: IO[bytes], plan: PackagePlan, signer: Signer | None) -> list[PackageFile]:
    with zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
        return _fill(_ZipBag(zf, plan.meta.created), plan, signer)


def _build_in_memory(
    plan: PackagePlan, signer: Signer | None
) -> tuple[bytes, list[PackageFile]] | None:
    """The archive's bytes, or None when it needs zip64 end records (then stream it)."""
    bag = _MemoryBag(plan.meta.created)
    try:
        files = _fill(bag, plan, signer)
        return bag.zip.finish(), files
    except TooBig:
        return None


def _is_small(datasets: Iterable[DatasetRows]) -> bool:
    """Whether the package is built in memory: from the row counts alone (``len`` of spooled
    rows reads nothing), so a big package is never planned only to be given up."""
    return sum(len(d.rows) for d in datasets) <= _IN_MEMORY_ROWS


@dataclass(frozen=True)
class PackagePlan:
    """The datasets' names and schemas, computed once (one read of every row), whether the
    package is small enough to be built in memory, and the format writers (made once: an
    unknown format fails here, before anything is written). Build it with
    :func:`build_planned`."""

    meta: PackageMeta
    small: bool
    planned: list[_Planned]
    writers: tuple[Writer, ...]

    @classmethod
    def of(cls, datasets: Iterable[DatasetRows], meta: PackageMeta) -> PackagePlan:
        given = list(datasets)
        writers = tuple(_writers(meta))
        planned = [_Planned(stem, d, infer_schema(d)) for stem, d in plan_names(given)]
        return cls(meta, _is_small(given), planned, writers)


def build_planned(
    plan: PackagePlan, signer: Signer | None, spill: Callable[[], Path]
) -> tuple[bytes, list[PackageFile]] | PackageInfo:
    """A small package's archive in memory (bytes and files); else (too many rows, or it
    needs zip64 end records) the package streamed to the path ``spill()`` gives, described.
    Each is built at most once from the one plan."""
    if plan.small:
        built = _build_in_memory(plan, signer)
        if built is not None:
            return built
    return _stream(spill(), plan, signer)


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not on Windows: the rename is still atomic there
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_package(
    path: Path,
    datasets: Iterable[DatasetRows],
    meta: PackageMeta,
    signer: Signer | None = None,
) -> PackageInfo:
    """Write the package to ``path`` (atomically) and describe what was written.

    The same datasets, meta and signing key give the same bytes, whatever order the datasets
    come in (datasets sharing a system and dataset name keep their given order).
    """
    path = Path(path)
    done = build_planned(PackagePlan.of(datasets, meta), signer, lambda: path)
    if isinstance(done, PackageInfo):
        return done
    built, files = done  # a person's few rows: built in memory, written once
    _atomic_bytes(path, built)
    digest, size = hashlib.sha256(built).hexdigest(), len(built)
    signed_by = signer.key_id if signer else None
    return PackageInfo(path=path, sha256=digest, size=size, files=files, signed_by=signed_by)


def _stream(path: Path, plan: PackagePlan, signer: Signer | None) -> PackageInfo:
    """Stream the package through ``zipfile`` into ``path`` (atomically)."""
    files: list[PackageFile] = []

    def fill(raw: IO[bytes]) -> None:
        files.extend(_write_zip(raw, plan, signer))

    _atomic(path, fill)
    digest, size = _hash_file(path)
    signed_by = signer.key_id if signer else None
    return PackageInfo(path=path, sha256=digest, size=size, files=files, signed_by=signed_by)


def _atomic(path: Path, fill: Callable[[IO[bytes]], object]) -> None:
    """``fill`` writes into a temporary file beside ``path`` (0600), renamed into place."""

    def write(fd: int) -> None:
        with open(fd, "wb", closefd=False) as raw:
            fill(raw)

    _replace_durably(path, write)


def _atomic_bytes(path: Path, data: bytes) -> None:
    """``_atomic`` for bytes in hand (a small package): written straight to the descriptor,
    with no file object around it."""

    def write(fd: int) -> None:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view) :]

    _replace_durably(path, write)


def _replace_durably(path: Path, write: Callable[[int], object]) -> None:
    """``write`` fills a new file beside ``path``, which is synced to disk and renamed over
    ``path``, then the folder is synced (so the rename survives a crash too). A failure
    removes the new file and leaves ``path`` as it was."""
    fd, tmp = _create_beside(path)
    try:
        try:
            write(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


_TEMP_NUMBERS = itertools.count()
_NEW_FILE = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, open for writing, readable by its owner only (0600).

    The name is unique from the process, the thread and a counter, which is all
    ``tempfile.mkstemp``'s random names are for; ``O_EXCL`` still refuses a file that exists
    (say one left by a crashed process with the same pid) and the next number is tried.
    """
    while True:
        number = next(_TEMP_NUMBERS)
        name = f".{path.name}.{os.getpid()}-{threading.get_ident()}-{number}.partial"
        tmp = path.with_name(name)
        try:
            return os.open(tmp, _NEW_FILE, 0o600), tmp
        except FileExistsError:
            continue
