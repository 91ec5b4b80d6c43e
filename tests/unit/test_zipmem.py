"""The in-memory zip: the same bytes as ``zipfile`` for the same members, and packages with
the same bytes whether built in memory or streamed through ``zipfile``."""

from __future__ import annotations

import io
import random
import stat
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.crypto.signing import Signer
from ferry.domain.models import DatasetRows
from ferry.export import package, zipmem
from ferry.export.package import PackageMeta, verify_package, write_package
from ferry.export.zipmem import MemoryZip, TooBig, deflate

STAMP = (2024, 5, 1, 13, 45, 12)
MODE = stat.S_IFREG | 0o644
CREATED = datetime(2024, 5, 1, 13, 45, 12, tzinfo=UTC)
ALL = ("csv", "html", "ical", "json", "vcard", "xml")


def zlib_default(data: bytes) -> bytes:
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def by_zipfile(members: list[tuple[str, bytes]]) -> bytes:
    """What ``write_package`` did for every package before: zipfile, force_zip64 entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=True) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=STAMP)
            small = len(data) < zipmem.STORE_BELOW
            info.compress_type = zipfile.ZIP_STORED if small else zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = MODE << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(data)
    return buffer.getvalue()


def by_memory(members: list[tuple[str, bytes]]) -> bytes:
    mz = MemoryZip(STAMP, MODE)
    for name, data in members:
        mz.add(name, data)
    return mz.finish()


def texts(rnd: random.Random, size: int) -> bytes:
    words = [b"id", b'"email"', b"2024-05-01T13:45:12", b"\n", b"Ann", b"<td>", b"9.99", b"{"]
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) if rnd.random() < 0.8 else bytes([rnd.randrange(256)])
    return bytes(out[:size])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=5000) | st.text(max_size=3000).map(str.encode))
def test_deflate_matches_zlib_defaults(data: bytes) -> None:
    assert deflate(data) == zlib_default(data)


def test_deflate_of_large_and_repetitive_input() -> None:
    rnd = random.Random(3)
    for data in (texts(rnd, 70_000), rnd.randbytes(40_000), b"xy" * 40_000, b""):
        assert deflate(data) == zlib_default(data)
        assert zlib.decompress(deflate(data), -15) == data


names = st.sampled_from(["bagit.txt", "data/a.json", "data/données/ü.csv", "data/x y/z.xml", ""])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, st.binary(max_size=2000)), max_size=8))
def test_same_bytes_as_zipfile(members: list[tuple[str, bytes]]) -> None:
    members = [(name or f"m{i}", data) for i, (name, data) in enumerate(members)]
    members = list(dict(members).items())  # zipfile warns on duplicate names
    built = by_memory(members)
    assert built == by_zipfile(members)
    with zipfile.ZipFile(io.BytesIO(built)) as zf:
        assert zf.testzip() is None
        assert [(i.filename, zf.read(i)) for i in zf.infolist()] == members


def test_an_empty_archive_is_what_zipfile_writes() -> None:
    assert by_memory([]) == by_zipfile([])


def test_members_past_the_zip64_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipmem, "LIMIT", 100)
    mz = MemoryZip(STAMP, MODE)
    mz.add("a", b"x" * 100)
    with pytest.raises(TooBig):
        mz.add("b", b"x" * 101)
    # "a" is stored (shorter than STORE_BELOW): the archive is now past 100 bytes
    with pytest.raises(TooBig):
        mz.add("d", b"")


def datasets() -> list[DatasetRows]:
    people = DatasetRows(
        system="Boutique é",
        dataset="clients/../Ü",
        categories={"email": "user.contact.email", "name": "user.name"},
        rows=[
            {"email": "ann@example.org", "name": "Ann", "when": CREATED, "uid": "a1"},
            {"email": "bo@example.org", "name": "Bö =1+1", "when": CREATED, "uid": "b2"},
        ],
    )
    empty = DatasetRows(system="billing", dataset="invoices", categories={"amount": None})
    return [people, empty]


@pytest.mark.parametrize("formats", [("json",), ALL])
def test_a_package_has_the_same_bytes_in_memory_and_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, formats: tuple[str, ...]
) -> None:
    meta = PackageMeta(tenant="Acme & Co", request_id="r-1", created=CREATED, formats=formats)
    signer = Signer.from_raw(bytes(range(32)))
    small = write_package(tmp_path / "small.zip", datasets(), meta, signer)
    monkeypatch.setattr(package, "_IN_MEMORY_ROWS", 0)
    streamed = write_package(tmp_path / "streamed.zip", datasets(), meta, signer)
    assert small.path.read_bytes() == streamed.path.read_bytes()
    assert (small.sha256, small.size, small.files) == (
        streamed.sha256,
        streamed.size,
        streamed.files,
    )
    assert verify_package(small.path, key=signer.public_raw).ok


def test_a_package_too_big_for_memory_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = PackageMeta(tenant="Acme", request_id="r-2", created=CREATED)
    expected = write_package(tmp_path / "a.zip", datasets(), meta).path.read_bytes()
    monkeypatch.setattr(zipmem, "LIMIT", 200)  # as if a member were past 2 GiB
    info = write_package(tmp_path / "b.zip", datasets(), meta)
    assert info.path.read_bytes() == expected
    assert verify_package(info.path).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "b.zip"]


_EDGE = zipmem.STORE_BELOW


@pytest.mark.parametrize("size", [0, _EDGE - 1, _EDGE, _EDGE + 1, 3 * _EDGE])
def test_short_members_are_stored_and_long_ones_deflated(size: int) -> None:
    data = texts(random.Random(size), size)
    built = by_memory([("m", data)])
    assert built == by_zipfile([("m", data)])
    with zipfile.ZipFile(io.BytesIO(built)) as zf:
        info = zf.getinfo("m")
        stored = size < zipmem.STORE_BELOW
        assert info.compress_type == (zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        assert zf.read("m") == data


@pytest.mark.parametrize(
    "pieces",
    [[], [b"a" * (_EDGE - 1)], [b"a" * (_EDGE - 24), b"b" * 24], [b"c" * (3 * _EDGE)]],
)
def test_streamed_members_written_in_pieces_match_the_memory_zip(pieces: list[bytes]) -> None:
    """The streaming bag decides stored or deflated only once it has seen enough bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=True) as zf:
        bag = package._ZipBag(zf, CREATED)
        done = bag.put("data/x.json", lambda sink: [sink.write(p) for p in pieces] and None)
    whole = b"".join(pieces)
    assert buffer.getvalue() == by_memory([("data/x.json", whole)])
    assert done.bytes == len(whole)


def test_a_member_that_fails_halfway_leaves_the_zip_closable() -> None:
    def broken(sink: package.BytesSink) -> None:
        sink.write(b"x" * 70_000)  # past the hashing sink's chunk: an entry is open
        raise RuntimeError("writer failed")

    buffer = io.BytesIO()
    with (
        pytest.raises(RuntimeError, match="writer failed"),
        zipfile.ZipFile(buffer, "w", allowZip64=True) as zf,
    ):
        package._ZipBag(zf, CREATED).put("data/x.json", broken)
