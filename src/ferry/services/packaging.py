"""Building a request's package: provenance filter, redaction, writing, signing, encrypting.

What stays on disk is ``package.zip.enc``, encrypted under a per-package key wrapped by the
tenant's package key. A small package (a person's few rows) is built and encrypted in memory,
so its plaintext never touches the disk; a big one is streamed into a hidden temporary file
beside the final one (mode 0600) that exists only while it is built. The redaction report
(what was replaced, with context) is encrypted the same way for the reviewer and never goes
into the package.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ferry.crypto.envelope import decrypt_chunks, encrypt_bytes, encrypt_file, key_id_of
from ferry.crypto.signing import Signer
from ferry.db import unit_of_work
from ferry.domain.models import DatasetRows, Identity, IdentityType
from ferry.export import filters
from ferry.export.package import (
    PackageInfo,
    PackageMeta,
    PackagePlan,
    build_planned,
    fsync_dir,
)
from ferry.export.redact import (
    RedactionReport,
    Redactor,
    Subject,
    subject_from,
    subject_names,
)
from ferry.export.writers import DEFAULT_FORMATS, parse_formats
from ferry.services import keys
from ferry.services.audit import record
from ferry.store import tenants
from ferry.store.tables import Package, Request, Tenant

ENCRYPTION = "aes-256-gcm-stream/v1"
PACKAGE_FILE = "package.zip.enc"
REDACTIONS_FILE = "redactions.json.enc"


def add_hints(data: DatasetRows, mapped: object) -> None:
    """Copy the writers' hints from the dataset's map entry onto the collected rows.

    ``timestamp`` exists on every map entry; ``model``, ``free_text`` and ``provenance`` are
    read if the data map has them (additive keys another change may add)."""
    if mapped is None:
        return
    data.timestamp = data.timestamp or getattr(mapped, "timestamp", None)
    data.model = data.model or getattr(mapped, "model", None)
    free = getattr(mapped, "free_text", None)
    if free and not data.free_text:
        data.free_text = tuple(free) if not isinstance(free, bool) else ()
    provenance_of = getattr(mapped, "provenance_of", None)
    if callable(provenance_of) and not data.provenance:
        found = {str(c): provenance_of(c) for c in data.categories}
        data.provenance = {c: str(getattr(p, "value", p)) for c, p in found.items() if p}


def formats_for(req: Request, tenant: Tenant) -> tuple[str, ...]:
    return tuple(req.formats or tenant.default_formats or DEFAULT_FORMATS)


@dataclass(frozen=True)
class Keys:
    """What the build needs from the tenant, read while a session is open."""

    signer: Signer
    key_id: str
    key: bytes
    known_people: tuple[str, ...]

    @classmethod
    def load(cls, session: Session, tenant: Tenant) -> Keys:
        key_id, key = keys.package_key(session, tenant)
        people = tuple(str(p) for p in tenant.known_people or [])
        return cls(keys.signer_for(session, tenant), key_id, key, people)


def _subject(identities: Sequence[Identity], datasets: list[DatasetRows]) -> Subject:
    emails = [i.value for i in identities if i.type is IdentityType.EMAIL]
    phones = [i.value for i in identities if i.type is IdentityType.PHONE]
    names = [i.value for i in identities if i.type is IdentityType.NAME]
    return subject_from(emails, phones, [*names, *subject_names(datasets)])


def prepare(
    kind: str,
    identities: Sequence[Identity],
    datasets: Iterable[DatasetRows],
    people: Sequence[str],
) -> tuple[list[DatasetRows], RedactionReport]:
    """Provenance filter, then redaction of other people in free text."""
    kept = list(filters.for_kind(kind, datasets))
    redactor = Redactor(_subject(identities, kept), people)
    redacted = [redactor.redact(d) for d in kept]
    return redacted, redactor.report


def build(
    folder: Path,
    datasets: list[DatasetRows],
    meta: PackageMeta,
    tenant_keys: Keys,
    report: RedactionReport,
    request_id: str,
) -> Package:
    """Write, sign and encrypt the package into ``folder``; the row to store describes it."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / PACKAGE_FILE
    staged = folder / f".{PACKAGE_FILE}.partial"
    try:
        info = _write_encrypted(folder, staged, PackagePlan.of(datasets, meta), tenant_keys)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    os.replace(staged, final)
    _write_report(folder, report, tenant_keys)
    if not folder.name.startswith(ASIDE):  # built aside: place() syncs the folder it lands in
        fsync_dir(folder)  # the renames and the report survive a crash once the row is committed
    files = [
        {"name": f.name, "sha256": f.sha256, "bytes": f.bytes, "rows": f.rows} for f in info.files
    ]
    return Package(
        request_id=request_id,
        path=str(final),
        sha256=info.sha256,
        size=info.size,
        files=files,
        encryption=ENCRYPTION,
        signed_by=info.signed_by,
        redactions=report.counts,
    )


ASIDE = ".partial-"


def aside(folder: Path) -> Path:
    """A fresh folder inside the request's package ``folder`` to build a package in: two runs
    of one request never write over each other's files, and a run whose result is not kept
    leaves nothing behind (:func:`discard`); the kept one is moved in by :func:`place`."""
    return folder / f"{ASIDE}{secrets.token_hex(8)}"


def place(package: Package) -> None:
    """Move a package built aside into its request's folder, in the transaction that records it
    (once the caller knows it keeps it): the package and its redaction report replace the
    earlier ones, and an earlier report goes if this package has none. A package already in
    place is left as it is."""
    built = Path(package.path).parent
    if not built.name.startswith(ASIDE):
        return
    folder = built.parent
    for name in (PACKAGE_FILE, REDACTIONS_FILE):
        if (built / name).exists():
            os.replace(built / name, folder / name)
        else:
            (folder / name).unlink(missing_ok=True)
    shutil.rmtree(built, ignore_errors=True)
    fsync_dir(folder)  # the renames survive a crash once the row is committed
    package.path = str(folder / PACKAGE_FILE)


def discard(package: Package) -> None:
    """A package built aside that is not kept (its request moved on meanwhile): removed."""
    built = Path(package.path).parent
    if built.name.startswith(ASIDE):
        shutil.rmtree(built, ignore_errors=True)


def remove_files(package: Package) -> bool:
    """Delete a package's files for good (retention): the package, its redaction report, and
    any build a crashed run left aside in its folder. Answers whether the package file was
    there. Call it for a request's newest package only: an older one (rebuilt since) shares
    its path, so its file is the newer package's."""
    path = Path(package.path)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    (path.parent / REDACTIONS_FILE).unlink(missing_ok=True)
    for left in path.parent.glob(f"{ASIDE}*"):
        shutil.rmtree(left, ignore_errors=True)
    return existed


def _write_report(folder: Path, report: RedactionReport, tenant_keys: Keys) -> None:
    """The redaction report, encrypted, staged and renamed into place; when there is nothing
    to report, one left by an earlier build of this package is removed."""
    path = folder / REDACTIONS_FILE
    if not (report.findings or report.notes):  # nothing the reviewer must see
        path.unlink(missing_ok=True)
        return
    text = json.dumps(report.to_dict(), ensure_ascii=False, indent=1).encode("utf-8", "replace")
    staged = folder / f".{REDACTIONS_FILE}.partial"
    try:
        encrypt_bytes(text, staged, tenant_keys.key_id, tenant_keys.key)
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def _write_encrypted(
    folder: Path, staged: Path, plan: PackagePlan, tenant_keys: Keys
) -> PackageInfo:
    """Build the package once from its one plan into ``staged``, encrypted: a small one from
    memory; a big one zipped into a temporary plain file (owner-only), then encrypted."""
    plain: list[Path] = []

    def spill() -> Path:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".plain.", suffix=".zip")
        os.close(fd)
        plain.append(Path(tmp))
        return plain[-1]

    final, key_id, key = folder / PACKAGE_FILE, tenant_keys.key_id, tenant_keys.key
    try:
        done = build_planned(plan, tenant_keys.signer, spill)
        if isinstance(done, PackageInfo):
            encrypt_file(done.path, staged, key_id, key)
            return PackageInfo(final, done.sha256, done.size, done.files, done.signed_by)
    finally:
        for path in plain:
            path.unlink(missing_ok=True)
    data, listed = done
    encrypt_bytes(data, staged, key_id, key)
    digest = hashlib.sha256(data).hexdigest()
    return PackageInfo(final, digest, len(data), listed, tenant_keys.signer.key_id)


def chunks(session: Session, package: Package, tenant_id: int) -> Iterable[bytes]:
    """The package's plain zip bytes, decrypted while read (plain packages read as they are).

    The key is fetched now, so the chunks can be read after the session has closed.
    """
    path = Path(package.path)
    if package.encryption is None:
        return _plain(path)
    key = keys.package_key_by_id(session, tenant_id, key_id_of(path))
    return decrypt_chunks(path, lambda _kid: key)


def plain_copy(session: Session, package: Package, tenant_id: int, dest: Path) -> Path:
    """Write the package's plain zip to ``dest`` (owner-only, atomic) for a channel that sends
    a file; the caller deletes it once sent. The stored package stays encrypted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks(session, package, tenant_id):
                fh.write(chunk)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _plain(path: Path) -> Iterable[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            yield chunk


@dataclass(frozen=True)
class RedactionView:
    counts: dict[str, int]
    findings: list[dict[str, Any]]
    engine: str | None = None  # what looked for names; None: nothing found, nothing to note
    notes: list[str] = field(default_factory=list)  # fallbacks and failures, for the reviewer


def redaction_report(session: Session, package: Package, tenant_id: int) -> RedactionView:
    path = Path(package.path).parent / REDACTIONS_FILE
    counts = {str(k): int(v) for k, v in (package.redactions or {}).items()}
    if not path.is_file():
        return RedactionView(counts, [])
    key = keys.package_key_by_id(session, tenant_id, key_id_of(path))
    loaded = json.loads(b"".join(decrypt_chunks(path, lambda _kid: key)))
    engine = loaded.get("engine")
    notes = [str(n) for n in loaded.get("notes", [])]
    return RedactionView(counts, list(loaded.get("findings", [])), engine and str(engine), notes)


def needs_review(report: RedactionReport) -> str | None:
    """Why a package must be seen by a person before it goes out, whatever the tenant's
    policy: the name finder failed and redaction fell back to its conservative mode."""
    if report.failed:
        return "name recognition failed during redaction: " + "; ".join(report.notes)
    return None


def set_default_formats(slug: str, formats: str | Sequence[str], actor: str) -> tuple[str, ...]:
    """The tenant's default formats, used when a request does not choose."""
    chosen = parse_formats(formats)
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        tenant.default_formats = list(chosen)
        record(session, tenant.id, actor, "tenant.formats_set", None, {"formats": list(chosen)})
    return chosen


def set_known_people(slug: str, names: Iterable[str], actor: str, replace: bool = False) -> int:
    """Names of other people the client's systems know (staff, agents): redacted from free
    text. Returns how many names the tenant now has."""
    cleaned = [" ".join(n.split()) for n in names]
    cleaned = [n for n in cleaned if 2 <= len(n) <= 200]
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        current = [] if replace else [str(n) for n in tenant.known_people or []]
        merged = sorted(set(current) | set(cleaned))
        tenant.known_people = merged
        record(session, tenant.id, actor, "tenant.known_people_set", None, {"count": len(merged)})
        return len(merged)
