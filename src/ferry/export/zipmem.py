"""A zip built in memory from whole members, byte for byte what ``zipfile`` writes.

``write_package`` builds a small package (a person's few rows) here instead of through
``zipfile``: the same local headers (with the zip64 extra that ``force_zip64=True`` gives),
the same deflate stream, the same central directory and end record, so a package has the
same bytes whichever way it was built (``tests/unit/test_zipmem.py`` compares the two).

A member shorter than ``STORE_BELOW`` (4 KiB) is stored, not deflated (the same rule as
``ferry.export.package`` applies to streamed packages): for a few KB deflate saves a few KB
and costs most of a small package's CPU, zlib setting up a fresh state (~256 KB) per member.
A person's small package (a few rows, the three guides of 2-4 KB) is then ~14 KB instead of
~8 KB; a big package changes by the same few KB, its data files being deflated as before.

It is cheaper for many tiny members because there is no per-member machinery (a file
object, a compressor fed in pieces, a seek back to rewrite the header), and the package's
hashes come from the same whole bytes.
"""

from __future__ import annotations

import struct
import zlib

# The layouts and constants of CPython's zipfile (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16).
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_ZIP64_EXTRA = struct.Struct("<HHQQ")
_ZIP64_VERSION = 45
_STORED = 0
_DEFLATED = 8
STORE_BELOW = 4096  # members shorter than this are stored (method 0), longer ones deflated
_UTF8_NAME = 0x800
_UNIX = 3
LIMIT = (1 << 31) - 1  # zipfile's ZIP64_LIMIT: past it the central directory changes shape
_MAX_MEMBERS = (1 << 16) - 1


class TooBig(Exception):
    """The archive needs zip64 end records; build it with ``zipfile`` instead."""


def deflate(data: bytes) -> bytes:
    """Raw deflate at zlib's default level: the bytes ``zipfile`` writes for ``data``."""
    return zlib.compress(data, zlib.Z_DEFAULT_COMPRESSION, -zlib.MAX_WBITS)


class MemoryZip:
    """Members are added whole, in order; ``finish`` returns the archive's bytes.

    Every member of ``STORE_BELOW`` bytes or more is deflated (shorter ones are stored),
    stamped with ``stamp`` (DOS date and time), made by Unix with ``mode`` as its permissions,
    as ``_zip_info`` in ``ferry.export.package`` describes it.
    """

    def __init__(self, stamp: tuple[int, int, int, int, int, int], mode: int) -> None:
        y, mo, d, h, mi, s = stamp
        self._date = (y - 1980) << 9 | mo << 5 | d
        self._time = h << 11 | mi << 5 | s // 2
        self._attr = mode << 16
        self._parts: list[bytes] = []
        self._central: list[bytes] = []  # record and name of each member, in order
        self._offset = 0

    def add(self, name: str, data: bytes) -> None:
        size, offset = len(data), self._offset
        if size > LIMIT or offset > LIMIT or len(self._central) // 2 >= _MAX_MEMBERS:
            raise TooBig(name)
        try:
            encoded, flags = name.encode("ascii"), 0
        except UnicodeEncodeError:
            encoded, flags = name.encode("utf-8"), _UTF8_NAME
        method = _STORED if size < STORE_BELOW else _DEFLATED
        packed = data if method == _STORED else deflate(data)
        compressed = len(packed)
        if compressed > LIMIT:
            raise TooBig(name)
        crc = zlib.crc32(data)
        extra = _ZIP64_EXTRA.pack(1, 16, size, compressed)
        header = _LOCAL.pack(
            b"PK\x03\x04",
            _ZIP64_VERSION,
            0,
            flags,
            method,
            self._time,
            self._date,
            crc,
            0xFFFFFFFF,
            0xFFFFFFFF,
            len(encoded),
            len(extra),
        )
        central = _CENTRAL.pack(
            b"PK\x01\x02",
            _ZIP64_VERSION,
            _UNIX,
            _ZIP64_VERSION,
            0,
            flags,
            method,
            self._time,
            self._date,
            crc,
            compressed,
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            self._attr,
            offset,
        )
        self._central += (central, encoded)  # its central directory record, written at the end
        self._parts += (header, encoded, extra, packed)
        self._offset = offset + len(header) + len(encoded) + len(extra) + compressed

    def finish(self) -> bytes:
        start = self._offset
        size = sum(map(len, self._central))
        if start > LIMIT or size > LIMIT:
            raise TooBig("central directory")
        count = len(self._central) // 2
        end = _END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0)
        return b"".join([*self._parts, *self._central, end])
