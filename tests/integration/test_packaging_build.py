"""Building a request's package: a small one is encrypted from memory (its plaintext never
touches the disk), a big one through a temporary plain file; both decrypt to the archive that
``write_package`` writes for the same input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ferry.crypto.envelope import decrypt_chunks
from ferry.db import unit_of_work
from ferry.domain.models import DatasetRows
from ferry.export import zipmem
from ferry.export.package import PackageMeta, write_package
from ferry.export.redact import RedactionReport
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


@pytest.mark.parametrize("rows", [3, 5_001])  # in memory, and streamed (over 5,000 rows)
def test_stored_package_decrypts_to_what_write_package_writes(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    keys = _keys()
    seen: list[list[Path]] = []
    real = packaging.encrypt_file

    def watching(src: Path, *args: Any, **kwargs: Any) -> Any:  # the streamed path only
        seen.append(_plain_files(src.parent))
        return real(src, *args, **kwargs)

    monkeypatch.setattr(packaging, "encrypt_file", watching)
    folder = tmp_path / "pkg"
    row = packaging.build(folder, _rows(rows), META, keys, RedactionReport(), "r1")

    stored = b"".join(decrypt_chunks(Path(row.path), lambda _kid: keys.key))
    expected = tmp_path / "expected.zip"
    info = write_package(expected, _rows(rows), META, keys.signer)
    assert stored == expected.read_bytes()
    assert row.sha256 == hashlib.sha256(stored).hexdigest() == info.sha256
    assert row.size == len(stored) and row.signed_by == keys.signer.key_id
    assert [f["name"] for f in row.files] == [f.name for f in info.files]
    if rows <= 5_000:
        assert seen == []  # never written in plain
    else:
        assert len(seen) == 1 and len(seen[0]) == 1  # a plain temporary file while zipping
    assert _plain_files(folder) == []  # and none is left behind
    assert sorted(p.name for p in folder.iterdir()) == [packaging.PACKAGE_FILE]


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
