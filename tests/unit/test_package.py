"""The package writer and checker: round trip, determinism, safe names, tamper detection."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import threading
import zipfile
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO
from uuid import UUID

import pytest

from ferry.domain.models import DatasetRows
from ferry.export import package as writer
from ferry.export.jsonenc import dumps, encode
from ferry.export.package import (
    PackageMeta,
    safe_name,
    unsafe_reason,
    verify_package,
    write_package,
)
from ferry.export.zipmem import STORE_BELOW

CREATED = datetime(2024, 5, 1, 13, 45, 12, tzinfo=UTC)
META = PackageMeta(tenant="acme", request_id="req-42", created=CREATED, scope="everything")
WHEN = datetime(2024, 3, 2, 10, 30, 0, 123456, tzinfo=UTC)


def customers() -> DatasetRows:
    return DatasetRows(
        system="crm",
        dataset="customers",
        categories={"name": "user.name", "email": "user.contact.email"},
        rows=[
            {
                "name": "Luís Gonçalves 🚢",
                "email": "luis@example.org",
                "born": date(1980, 2, 29),
                "seen": WHEN,
                "opens": time(9, 0),
                "balance": Decimal("1234567890.1234567890"),
                "photo": b"\x00\xffbinary",
                "id": UUID("12345678-1234-5678-1234-567812345678"),
                "note": None,
            },
            {"name": "Ana", "email": "ana@example.org"},
        ],
    )


def datasets() -> list[DatasetRows]:
    empty = DatasetRows(system="billing", dataset="invoices", categories={"amount": None})
    return [customers(), empty]


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> None:
    """Copy a zip, replacing entries (``None`` drops one; a new name adds one)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename not in change:
                new.writestr(info, old.read(info))
            elif change[info.filename] is not None:
                new.writestr(info, change[info.filename])  # type: ignore[arg-type]
        for name, content in change.items():
            if content is not None and name not in old.namelist():
                new.writestr(name, content)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    path = tmp_path / "pkg.zip"
    write_package(path, datasets(), META)
    return path


def test_round_trip_encodes_values_as_specified(package: Path) -> None:
    files = entries(package)
    doc = json.loads(files["data/crm/customers.json"].decode("utf-8"))
    assert doc["system"] == "crm" and doc["dataset"] == "customers"
    assert doc["fields"]["name"] == "user.name"
    assert doc["fields"]["born"] is None  # an unmapped field is still listed
    first = doc["rows"][0]
    assert first["name"] == "Luís Gonçalves 🚢"
    assert first["born"] == "1980-02-29"
    assert first["seen"] == "2024-03-02T10:30:00.123456+00:00"
    assert first["opens"] == "09:00:00"
    assert first["balance"] == "1234567890.1234567890"
    assert base64.b64decode(first["photo"]) == b"\x00\xffbinary"
    assert first["id"] == "12345678-1234-5678-1234-567812345678"
    assert first["note"] is None
    assert doc["rows"][1] == {"name": "Ana", "email": "ana@example.org"}
    assert "Luís Gonçalves 🚢".encode() in files["data/crm/customers.json"]  # not \\u-escaped


def test_every_payload_file_is_valid_and_listed(package: Path) -> None:
    files = entries(package)
    assert files["bagit.txt"] == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    manifest = files["manifest-sha256.txt"].decode().splitlines()
    assert manifest == sorted(manifest, key=lambda line: line.split("  ", 1)[1])
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest}
    payload = {n for n in files if n.startswith("data/")}
    assert set(listed) == payload
    for name in payload:
        assert hashlib.sha256(files[name]).hexdigest() == listed[name]
        if name.endswith(".json"):
            json.loads(files[name])
    size = sum(len(files[n]) for n in payload)
    info = files["bag-info.txt"].decode()
    assert f"Payload-Oxum: {size}.{len(payload)}\n" in info
    assert "Source-Organization: acme\n" in info and "External-Identifier: req-42\n" in info


def test_empty_dataset_is_included(package: Path) -> None:
    doc = json.loads(entries(package)["data/billing/invoices.json"])
    assert doc["rows"] == [] and doc["fields"] == {"amount": None}


def test_readme_explains_files_and_checks(package: Path) -> None:
    text = entries(package)["data/README.txt"].decode()
    assert "crm/customers.json" in text and "2 records" in text
    assert "billing/invoices.json" in text and "no records" in text
    assert "sha256sum -c manifest-sha256.txt" in text
    assert "ferry package verify FILE" in text
    assert "the person who asked" in text


def test_write_returns_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    info = write_package(path, datasets(), META)
    assert info.path == path and info.size == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    by_name = {f.name: f for f in info.files}
    assert by_name["data/crm/customers.json"].rows == 2
    assert by_name["data/billing/invoices.json"].rows == 0
    assert by_name["data/README.txt"].rows is None
    files = entries(path)
    for f in info.files:
        assert f.bytes == len(files[f.name])
        assert f.sha256 == hashlib.sha256(files[f.name]).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["p.zip"]  # no temp file left behind


def test_same_input_gives_same_bytes_in_any_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    write_package(a, datasets(), META)
    write_package(b, list(reversed(datasets())), META)
    assert a.read_bytes() == b.read_bytes()


def test_entries_have_fixed_time_and_permissions(package: Path) -> None:
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            assert info.date_time == (2024, 5, 1, 13, 45, 12)
            assert info.external_attr >> 16 == 0o100644
            short = info.file_size < STORE_BELOW  # stored: deflate saves little there
            assert info.compress_type == (zipfile.ZIP_STORED if short else zipfile.ZIP_DEFLATED)


def test_a_failed_write_leaves_nothing_at_path(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    bad = DatasetRows(system="s", dataset="d", rows=[{"x": object()}])
    with pytest.raises(Exception, match="s/d row 1"):
        write_package(path, [bad], META)
    assert list(tmp_path.iterdir()) == []


def test_a_package_is_private_and_replaces_the_old_one_whole(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"old")
    info = write_package(path, datasets(), META)
    assert path.stat().st_mode & 0o777 == 0o600
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


def test_a_streamed_write_that_fails_leaves_the_old_file_and_no_temporary_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"old")

    def fail(raw: IO[bytes]) -> None:
        raw.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        writer._atomic(path, fail)
    assert path.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [path]


def test_a_write_of_bytes_that_fails_leaves_the_old_file_and_no_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.zip"
    path.write_bytes(b"old")

    def full(fd: int, data: bytes) -> int:
        raise OSError("disk full")

    with monkeypatch.context() as patched, pytest.raises(OSError, match="disk full"):
        patched.setattr(writer.os, "write", full)
        writer._atomic_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [path]


def test_a_short_os_write_is_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.zip"
    write = os.write
    with monkeypatch.context() as patched:
        patched.setattr(writer.os, "write", lambda fd, data: write(fd, bytes(data[:3])))
        writer._atomic_bytes(path, b"0123456789")
    assert path.read_bytes() == b"0123456789"


def test_a_temporary_name_left_by_a_crash_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.zip"
    monkeypatch.setattr(writer, "_TEMP_NUMBERS", itertools.count())
    left = tmp_path / f".p.zip.{os.getpid()}-{threading.get_ident()}-0.partial"
    left.write_bytes(b"left by a crash")
    writer._atomic_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert left.read_bytes() == b"left by a crash"  # O_EXCL: the next name was taken
    assert sorted(tmp_path.iterdir()) == sorted([left, path])


@pytest.mark.parametrize("name", ["../../etc/passwd", "CON", "a/b", "", "\x00x", "..", "nul.txt"])
def test_hostile_names_stay_inside_data(tmp_path: Path, name: str) -> None:
    path = tmp_path / "p.zip"
    write_package(path, [DatasetRows(system=name, dataset=name, rows=[{"a": 1}])], META)
    guides = {"data/README.txt", "data/index.html", "data/datapackage.json"}
    names = [n for n in entries(path) if n.startswith("data/") and n not in guides]
    assert len(names) == 1
    _, folder, filename = names[0].split("/")
    for part in (folder, filename.removesuffix(".json")):
        assert part and ".." not in part and "\\" not in part
        assert all(ch.isalnum() or ch in "-_." for ch in part)
        assert part.split(".")[0].upper() not in {"CON", "NUL"}
    assert unsafe_reason(names[0]) is None
    doc = json.loads(entries(path)[names[0]])
    assert doc["system"] == name  # the original name is kept inside the file
    assert verify_package(path).ok


def test_safe_name_rules() -> None:
    assert safe_name("../../etc/passwd") == "_._etc_passwd"
    assert safe_name("CON") == "_CON"
    assert safe_name("com1.json") == "_com1.json"
    assert safe_name("") == safe_name("..") == "unnamed"
    assert safe_name("Clientes España") == "Clientes_España"
    assert safe_name("orders-2024_v1.x") == "orders-2024_v1.x"
    assert len(safe_name("x" * 500)) <= 60


def test_names_that_sanitise_alike_do_not_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    same = [
        DatasetRows(system="crm", dataset="a/b", rows=[{"n": 1}]),
        DatasetRows(system="crm", dataset="a\\b", rows=[{"n": 2}]),
        DatasetRows(system="crm", dataset="A_B", rows=[{"n": 3}]),
        DatasetRows(system="README.txt", dataset="x"),
    ]
    info = write_package(path, same, META)
    names = sorted(f.name for f in info.files)
    assert len(set(n.casefold() for n in names)) == len(names) == 7
    with zipfile.ZipFile(path) as zf:
        assert len(zf.namelist()) == len(set(zf.namelist()))
        ns = sorted(json.loads(zf.read(n))["rows"][0]["n"] for n in names if "crm/" in n)
    assert ns == [1, 2, 3]
    assert verify_package(path).ok


def test_large_dataset_streams(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"i": i, "when": date(2024, 1, 1), "amount": Decimal(i) / 100} for i in range(200_000)
    ]
    path = tmp_path / "big.zip"
    info = write_package(path, [DatasetRows("s", "big", {"i": None}, rows)], META)
    assert {f.name: f.rows for f in info.files}["data/s/big.json"] == 200_000
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("data/s/big.json"))
    assert len(doc["rows"]) == 200_000 and doc["rows"][-1]["amount"] == "1999.99"
    assert verify_package(path).ok


def test_nan_and_lone_surrogates_stay_valid_json() -> None:
    assert json.loads(dumps({"x": float("nan")})) == {"x": "nan"}
    assert dumps({"s": "Luís"}) == '{"s": "Luís"}'
    assert json.loads(encode({"s": "a\ud800b"})) == {"s": "a\ud800b"}


# --- verify ------------------------------------------------------------------------------


def test_verify_fresh_package_is_ok(package: Path) -> None:
    report = verify_package(package)
    assert report.ok and report.problems == [] and report.files_checked == 5


def test_verify_detects_a_changed_data_file(package: Path, tmp_path: Path) -> None:
    name = "data/crm/customers.json"
    content = bytearray(entries(package)[name])
    content[content.index(b"Ana")] = ord("E")
    bad = tmp_path / "bad.zip"
    rewrite(package, bad, {name: bytes(content)})
    report = verify_package(bad)
    assert not report.ok
    assert any("checksum mismatch" in p and name in p for p in report.problems)


def test_verify_detects_flipped_bytes_in_the_zip(package: Path, tmp_path: Path) -> None:
    raw = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo("data/crm/customers.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(raw))
    report = verify_package(bad)
    assert not report.ok
    assert any("data/crm/customers.json" in p for p in report.problems)


def test_verify_detects_a_deleted_entry(package: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    rewrite(package, bad, {"data/billing/invoices.json": None})
    problems = verify_package(bad).problems
    assert any("data/billing/invoices.json is listed" in p and "missing" in p for p in problems)
    assert any("Payload-Oxum mismatch" in p for p in problems)


def test_verify_detects_an_extra_file(package: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    rewrite(package, bad, {"data/extra.txt": b"surprise"})
    problems = verify_package(bad).problems
    assert any("data/extra.txt" in p and "not listed" in p for p in problems)


def test_verify_detects_a_tampered_manifest(package: Path, tmp_path: Path) -> None:
    manifest = entries(package)["manifest-sha256.txt"].decode().splitlines()
    name = manifest[0].split("  ", 1)[1]
    manifest[0] = f"{'0' * 64}  {name}"
    manifest.append("not a manifest line")
    bad = tmp_path / "bad.zip"
    rewrite(package, bad, {"manifest-sha256.txt": ("\n".join(manifest) + "\n").encode()})
    problems = verify_package(bad).problems
    assert any(f"checksum mismatch for {name}" in p for p in problems)
    assert any(f"line {len(manifest)} is malformed" in p for p in problems)
    assert any("manifest-sha256.txt" in p and "tagmanifest" in p for p in problems)


def test_verify_detects_missing_tag_files(package: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    rewrite(package, bad, {"bagit.txt": None, "manifest-sha256.txt": None})
    problems = verify_package(bad).problems
    assert any(p.startswith("bagit.txt is missing") for p in problems)
    assert any(p.startswith("manifest-sha256.txt is missing") for p in problems)


def test_verify_rejects_a_non_zip(tmp_path: Path) -> None:
    path = tmp_path / "notes.zip"
    path.write_text("hello")
    report = verify_package(path)
    assert not report.ok and report.problems == [
        "notes.zip is not a zip file, so it is not a Ferry package"
    ]
    assert not verify_package(tmp_path / "absent.zip").ok


def test_verify_rejects_a_truncated_zip(package: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.zip"
    cut.write_bytes(package.read_bytes()[: package.stat().st_size // 2])
    report = verify_package(cut)
    assert not report.ok and "truncated" in report.problems[0]


def test_verify_flags_path_traversal_names(package: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    shutil.copy(package, bad)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("data/../../evil.sh", b"rm -rf /")
        zf.writestr("/etc/cron.d/x", b"x")
    problems = verify_package(bad).problems
    assert any("'data/../../evil.sh'" in p and ".." in p for p in problems)
    assert any("'/etc/cron.d/x'" in p and "absolute" in p for p in problems)


def test_verify_bounds_the_bytes_it_reads(package: Path) -> None:
    report = verify_package(package, max_total_bytes=100)
    assert not report.ok and any("size limit" in p for p in report.problems)


@pytest.mark.parametrize("text", ["", "plain text", "a & b", "<b>", 'say "hi"', "it's", "&amp;"])
def test_report_escape_is_html_escape(text: str) -> None:
    import html

    from ferry.export.report import _e

    assert _e(text) == html.escape(text, quote=True)
