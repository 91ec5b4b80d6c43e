"""Building a request's package: a small one is encrypted from memory (its plaintext never
touches the disk), a big one through a temporary plain file; both decrypt to the archive that
``write_package`` writes for the same input."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ferry.crypto.envelope import MAGIC, decrypt_chunks
from ferry.db import unit_of_work
from ferry.domain.models import DatasetRows
from ferry.export import zipmem
from ferry.export.package import PackageMeta, write_package
from ferry.export.redact import Finding, RedactionReport
from ferry.export.zipmem import TooBig
from ferry.services import packaging, tenants
from ferry.store import tenants as tenant_store

META = PackageMeta(tenant="Acme", request_id="r1", created=datetime(2026, 1, 2, tzinfo=UTC))


def _keys() -> packaging.Keys:
    tenants.create_tenant("acme", "Acme", ["GB"])
    with unit_of_work() as session:
        return packaging.Keys.load(session, tenant_store.get_by_slug(session, "acme"))


def _rows(n: int) -> list[DatasetRows]:
    rows = [{"id": i, "note": f"order {i}"} for i in range(n)]
    return [DatasetRows(system="shop", dataset="orders", rows=rows)]


def _plain_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".plain.")]


_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class _Writes:
    """Every file opened for writing under ``folder`` (by ``open``, ``Path.open``, ``os.open``,
    ``tempfile``: all raise the ``open`` audit event), with its bytes as they were when it was
    renamed or deleted, and at the end: what the build put on the disk, however briefly."""

    active: _Writes | None = None  # audit hooks cannot be removed: only this one records
    hooked = False

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = str(folder.resolve()) + os.sep
        self.opened: list[str] = []
        self.contents: dict[str, list[bytes]] = {}
        self._busy = False

    def __enter__(self) -> _Writes:
        if not _Writes.hooked:
            sys.addaudithook(_Writes._hook)
            _Writes.hooked = True
        _Writes.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        _Writes.active = None
        for path in dict.fromkeys(self.opened):
            self._snapshot(path)

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        self = _Writes.active
        if self is None or self._busy:
            return
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            mode = args[1] if isinstance(args[1], str) else ""
            flags = args[2] if isinstance(args[2], int) else 0
            path = os.path.realpath(os.fsdecode(args[0]))
            if path.startswith(self.folder) and (flags & _WRITING or set(mode) & set("wax+")):
                self.opened.append(path)
        elif event in ("os.rename", "os.remove") and isinstance(args[0], str | os.PathLike):
            path = os.path.realpath(os.fsdecode(args[0]))
            if path in self.opened:
                self._snapshot(path)  # before it moves or goes

    def _snapshot(self, path: str) -> None:
        self._busy = True
        try:
            with open(path, "rb") as fh:
                self.contents.setdefault(path, []).append(fh.read())
        except OSError:
            pass
        finally:
            self._busy = False

    def names(self) -> set[str]:
        return {os.path.basename(p) for p in self.opened}

    def plain_zips(self) -> set[str]:
        """Names of the written files that held a plain zip when looked at."""
        return {
            os.path.basename(path)
            for path, seen in self.contents.items()
            if any(b.startswith(b"PK\x03\x04") for b in seen)
        }

    def holding(self, needle: bytes) -> set[str]:
        return {
            os.path.basename(path)
            for path, seen in self.contents.items()
            if any(needle in b for b in seen)
        }


@pytest.mark.parametrize("rows", [3, 5_001])  # in memory, and streamed (over 5,000 rows)
def test_stored_package_decrypts_to_what_write_package_writes(
    ferry_env: Path, tmp_path: Path, rows: int
) -> None:
    keys = _keys()
    folder = tmp_path / "pkg"
    with _Writes(folder) as written:
        row = packaging.build(folder, _rows(rows), META, keys, RedactionReport(), "r1")

    stored = b"".join(decrypt_chunks(Path(row.path), lambda _kid: keys.key))
    expected = tmp_path / "expected.zip"
    info = write_package(expected, _rows(rows), META, keys.signer)
    assert stored == expected.read_bytes()
    assert row.sha256 == hashlib.sha256(stored).hexdigest() == info.sha256
    assert row.size == len(stored) and row.signed_by == keys.signer.key_id
    assert [f["name"] for f in row.files] == [f.name for f in info.files]
    staged = f".{packaging.PACKAGE_FILE}.partial"
    assert staged in written.names()  # the recorder sees the build's writes
    assert all(seen[-1].startswith(MAGIC) for p, seen in written.contents.items() if staged in p)
    if rows <= 5_000:
        assert written.names() == {staged}  # nothing else was written,
        assert written.plain_zips() == set()  # and never the zip in plain
    else:  # a plain temporary file while zipping (0600; written beside it, renamed over it)
        plain = written.plain_zips()
        assert plain and all(n.lstrip(".").startswith("plain.") for n in plain)
    assert _plain_files(folder) == []  # and none is left behind
    assert sorted(p.name for p in folder.iterdir()) == [packaging.PACKAGE_FILE]


def _report() -> RedactionReport:
    found = Finding("shop", "orders", "note", 0, "name", "Jane Roe", "call Jane Roe back", 5, 13)
    return RedactionReport(findings=[found], notes=["names found by the deny list only"])


def _decrypted_report(folder: Path, keys: packaging.Keys) -> Any:
    return json.loads(
        b"".join(decrypt_chunks(folder / packaging.REDACTIONS_FILE, lambda _k: keys.key))
    )


def test_a_redaction_report_with_findings_is_stored_encrypted(
    ferry_env: Path, tmp_path: Path
) -> None:
    keys = _keys()
    folder = tmp_path / "pkg"
    with _Writes(folder) as written:
        packaging.build(folder, _rows(3), META, keys, _report(), "r1")

    stored = (folder / packaging.REDACTIONS_FILE).read_bytes()
    assert stored.startswith(MAGIC)
    assert _decrypted_report(folder, keys) == _report().to_dict()
    assert written.plain_zips() == set()
    assert written.holding(b"Jane Roe") == set()  # the report was never written in plain
    assert any(packaging.REDACTIONS_FILE in name for name in written.names())


class _CountedRows(list[dict[str, object]]):
    """Rows that count how often they are iterated: spooled rows are read from disk each time
    (``ferry.collect.spool.SpooledRows``), so every pass over them costs a read of the spool."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        super().__init__()
        self._rows = rows
        self.reads = 0

    def __iter__(self) -> Iterator[dict[str, object]]:
        self.reads += 1
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __bool__(self) -> bool:
        return bool(self._rows)

    def __getitem__(self, index: Any) -> Any:
        raise TypeError("spooled rows can only be iterated")


def _counted(n: int) -> tuple[_CountedRows, list[DatasetRows]]:
    rows = _CountedRows([{"id": i, "note": f"order {i}"} for i in range(n)])
    return rows, [DatasetRows(system="shop", dataset="orders", rows=rows)]


# What write_package alone reads for a big package: the schema scan, then one pass per data
# format writer (json; csv; xml; the html report with its rows); nothing is read to decide
# whether it is small.
@pytest.mark.parametrize(
    ("formats", "reads"), [(("json",), 2), (("json", "csv", "xml", "html"), 5)]
)
def test_a_big_package_reads_its_rows_no_more_than_write_package(
    ferry_env: Path, tmp_path: Path, formats: tuple[str, ...], reads: int
) -> None:
    keys = _keys()
    meta = replace(META, formats=formats)
    alone, datasets = _counted(5_001)
    write_package(tmp_path / "alone.zip", datasets, meta, keys.signer)
    assert alone.reads == reads

    rows, datasets = _counted(5_001)
    row = packaging.build(tmp_path / "pkg", datasets, meta, keys, RedactionReport(), "r1")
    assert rows.reads == reads  # planned once, built once
    stored = b"".join(decrypt_chunks(Path(row.path), lambda _kid: keys.key))
    assert stored == (tmp_path / "alone.zip").read_bytes()


def test_a_small_package_too_big_for_memory_is_built_in_memory_once_then_streamed(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _keys()

    def too_big(self: Any) -> bytes:  # as when the archive would need zip64 end records
        raise TooBig

    monkeypatch.setattr(zipmem.MemoryZip, "finish", too_big)
    rows, datasets = _counted(3)
    row = packaging.build(tmp_path / "pkg", datasets, META, keys, RedactionReport(), "r1")
    assert rows.reads == 3  # the schema scan, the try in memory, the streamed build
    stored = b"".join(decrypt_chunks(Path(row.path), lambda _kid: keys.key))
    assert (
        stored == write_package(tmp_path / "p.zip", _rows(3), META, keys.signer).path.read_bytes()
    )
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == [packaging.PACKAGE_FILE]


def test_the_redaction_report_is_staged_then_renamed_into_place(
    ferry_env: Path, tmp_path: Path
) -> None:
    keys = _keys()
    folder = tmp_path / "pkg"
    with _Writes(folder) as written:
        packaging.build(folder, _rows(3), META, keys, _report(), "r1")
    staged = {f".{packaging.PACKAGE_FILE}.partial", f".{packaging.REDACTIONS_FILE}.partial"}
    assert written.names() == staged  # never written in place
    assert _decrypted_report(folder, keys) == _report().to_dict()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [packaging.PACKAGE_FILE, packaging.REDACTIONS_FILE]
    )


def test_a_report_that_fails_while_written_leaves_the_earlier_one_whole(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _keys()
    folder = tmp_path / "pkg"
    packaging.build(folder, _rows(3), META, keys, _report(), "r1")
    real = packaging.encrypt_bytes

    def torn(data: bytes, dst: Path, *args: Any) -> None:
        if packaging.REDACTIONS_FILE not in dst.name:
            return real(data, dst, *args)
        dst.write_bytes(MAGIC + b"half a report")
        raise OSError("disk full")

    monkeypatch.setattr(packaging, "encrypt_bytes", torn)
    later = RedactionReport(notes=["a later build"])
    with pytest.raises(OSError, match="disk full"):
        packaging.build(folder, _rows(3), META, keys, later, "r1")
    assert _decrypted_report(folder, keys) == _report().to_dict()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [packaging.PACKAGE_FILE, packaging.REDACTIONS_FILE]
    )


def test_a_rebuild_with_nothing_to_report_removes_the_earlier_report(
    ferry_env: Path, tmp_path: Path
) -> None:
    keys = _keys()
    folder = tmp_path / "pkg"
    packaging.build(folder, _rows(3), META, keys, _report(), "r1")
    assert (folder / packaging.REDACTIONS_FILE).is_file()
    row = packaging.build(folder, _rows(3), META, keys, RedactionReport(), "r1")
    assert sorted(p.name for p in folder.iterdir()) == [packaging.PACKAGE_FILE]
    with unit_of_work() as session:
        tenant_id = tenant_store.get_by_slug(session, "acme").id
        view = packaging.redaction_report(session, row, tenant_id)
    assert view.findings == [] and view.notes == [] and view.engine is None
