"""The text files of a package: the plain-language ``data/README.txt`` and the BagIt tag files
(``bagit.txt``, ``bag-info.txt``, manifests)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
KIND_TEXT = {
    "access": "a copy of your personal data (access request)",
    "transfer": "your personal data, to be sent to another provider (transfer request)",
    "device": "your settings, preferences and activity, for use on another device or service",
    "consent-share": "your personal data, shared with a vendor under the consent you gave",
}


class ReadmeEntry(NamedTuple):
    """One payload file as the README lists it (``path`` relative to ``data/``)."""

    path: str
    system: str
    dataset: str
    rows: int
    size: int


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _rows_text(rows: int) -> str:
    if rows == 0:
        return "no records (we looked here and found nothing about you)"
    return "1 record" if rows == 1 else f"{rows} records"


def _file_lines(entries: Sequence[ReadmeEntry]) -> list[str]:
    if not entries:
        return ["  (none: we found no data about you in any system)"]
    width = max(len(e.path) for e in entries)
    lines = []
    for e in entries:
        lines.append(f"  {e.path.ljust(width)}  {_rows_text(e.rows)}, {human_size(e.size)}")
        if f"{e.system}/{e.dataset}" != e.path.rsplit(".", 1)[0]:
            origin = f"{e.system} / {e.dataset}"
            lines.append(f"  {''.ljust(width)}  (from {origin!r}; the file name was made safe)")
    return lines


class ReadmeMeta(Protocol):
    """What the README needs to know about the package (``PackageMeta`` fits)."""

    @property
    def tenant(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def created(self) -> datetime: ...
    @property
    def subject_label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def scope(self) -> str: ...


def render_readme(meta: ReadmeMeta, entries: Sequence[ReadmeEntry]) -> str:
    """The README text. ``meta.subject_label`` describes the person, never their address."""
    what = KIND_TEXT.get(meta.kind, f"your personal data ({meta.kind} request)")
    title = f"Your data from {meta.tenant}"
    parts = [
        title,
        "=" * len(title),
        "",
        f"This package holds {what}.",
        f"It was prepared by {meta.tenant} for {meta.subject_label}, request {meta.request_id},",
        f"on {meta.created.date().isoformat()}.",
        f"What it covers: {meta.scope}",
        "",
        "Files",
        "-----",
        "Each file below holds the records from one place (system / dataset) where",
        "your data is kept. A file with no records is listed on purpose: it shows we looked.",
        "",
        *_file_lines(entries),
        "",
        "index.html is a readable report of the same data: open it in any web browser.",
        "datapackage.json describes every file (fields, data categories, checksums) for",
        "programs, in the Frictionless Data Package format.",
        "",
        _HOW_TO_TEXT,
    ]
    return "\n".join(parts) + "\n"


_HOW_TO = [
    "How to open the files",
    "---------------------",
    "The .json files are plain text in JSON format (UTF-8). Open them in any text editor,",
    "a web browser (drag the file into a browser window), or a spreadsheet or data tool",
    "that imports JSON. Each file has:",
    '  "system"   where the data came from,',
    '  "dataset"  which table or list inside that system,',
    '  "fields"   each field name with the kind of data it holds (its data category),',
    '  "rows"     the records, one per line.',
    "Dates and times are written as ISO-8601 text (2024-05-01T13:45:00+00:00), exact",
    'amounts as text ("19.90"), and binary content (like images) as base64 text.',
    "",
    "The other formats hold the same records:",
    "  .csv   opens in any spreadsheet program (UTF-8). Text that starts with = + - @",
    "         or an apostrophe has one extra apostrophe in front, so that a spreadsheet",
    "         never runs it as a formula; remove it to get the original text.",
    "  .xml   for programs; the .xsd file beside it describes it. Text with characters",
    '         XML cannot carry is written as base64 (marked encoding="base64").',
    "  .vcf   contacts (vCard 4.0): import into an address book.",
    "  .ics   dated events (iCalendar): import into a calendar.",
    "",
    "How to check nothing was changed",
    "--------------------------------",
    "Unzip the package, open a terminal in the unzipped folder (the one holding",
    "manifest-sha256.txt) and run:",
    "",
    "  sha256sum -c manifest-sha256.txt",
    "",
    "(on macOS: shasum -a 256 -c manifest-sha256.txt). Every line should end in OK.",
    "If you have Ferry installed you can check the zip itself without unzipping it:",
    "",
    "  ferry package verify FILE",
    "",
    "The package follows the BagIt format (RFC 8493), so archive tools can check it too.",
    "If signature-ed25519.txt is present, the company signed the package: `ferry package",
    "verify FILE --key KEY` checks that signature against the company's published key",
    "(the key is at /.well-known/ferry-signing-keys on the company's Ferry site).",
]

_HOW_TO_TEXT = "\n".join(_HOW_TO)  # the same for every package: joined once


def _one_line(value: str) -> str:
    return " ".join(value.split())


def manifest_text(files: Iterable[tuple[str, str]]) -> bytes:
    """``<sha256>  <name>`` lines, sorted by name, from ``(name, sha256)`` pairs."""
    lines = [f"{digest}  {name}\n" for name, digest in sorted(files)]
    return "".join(lines).encode("utf-8")


def bag_info(meta: ReadmeMeta, sizes: Sequence[int]) -> bytes:
    """``bag-info.txt``; Payload-Oxum is ``<payload bytes>.<payload file count>``."""
    created = meta.created.astimezone(UTC) if meta.created.tzinfo else meta.created
    lines = [
        f"Source-Organization: {_one_line(meta.tenant)}",
        f"External-Identifier: {_one_line(meta.request_id)}",
        f"Bagging-Date: {created.date().isoformat()}",
        f"Payload-Oxum: {sum(sizes)}.{len(sizes)}",
        "Bag-Software-Agent: Ferry",
        f"External-Description: {_one_line(meta.kind)} request; {_one_line(meta.scope)}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")
