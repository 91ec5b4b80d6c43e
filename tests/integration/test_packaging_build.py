"""Building a request's package: a small one is encrypted from memory (its plaintext never
touches the disk), a big one through a temporary plain file; both decrypt to the archive that
``write_package`` writes for the same input."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ferry.crypto.envelope import decrypt_chunks
from ferry.db import unit_of_work
from ferry.domain.models import DatasetRows
from ferry.export import package as package_module
from ferry.export.package import PackageMeta, write_package
from ferry.export.redact import RedactionReport
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
    real = package_module.write_package

    def watching(path: Path, *args: Any, **kwargs: Any) -> Any:  # the streamed path only
        done = real(path, *args, **kwargs)
        seen.append(_plain_files(path.parent))
        return done

    monkeypatch.setattr(packaging, "write_package", watching)
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
