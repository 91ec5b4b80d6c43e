"""``data/index.html``: the readable report, self-contained (no external assets, no scripts).

Grouped by system, then by the kind of data (from the data categories), with a table of
contents, plain-language labels, tables that turn into cards on a phone, and a print style.
With ``include_rows`` false it is a short guide to the files only (when HTML is not among
the chosen formats). Written row by row into the sink.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.readme import KIND_TEXT, ReadmeMeta, human_size
from ferry.export.schema import DatasetSchema
from ferry.export.values import to_text

CATEGORY_WORDS = {
    "user.account": "Your account",
    "user.authorization": "Sign-in and permissions",
    "user.behavior": "What you did (activity and purchases)",
    "user.biometric": "Biometric data",
    "user.contact": "Contact details",
    "user.content": "Things you wrote or sent",
    "user.demographic": "About you",
    "user.device": "Your devices",
    "user.financial": "Money and payments",
    "user.government_id": "Official identity numbers",
    "user.health_and_medical": "Health",
    "user.location": "Where you were",
    "user.name": "Your name",
    "user.unique_id": "Identifiers",
    "system": "Records the company keeps to run its systems",
}
_CELL_LIMIT = 2000
_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:72rem;padding:1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{border-bottom:2px solid #ccc;margin-top:2.5rem}
nav ol{padding-left:1.2rem}.muted{color:#555}.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;
word-break:break-word}th small{display:block;font-weight:normal;color:#555}
tbody tr:nth-child(even){background:#f6f6f6}
@media (max-width:40rem){thead{display:none}table,tbody,tr,td{display:block;width:auto}
tr{border:1px solid #999;margin-bottom:.8rem}td{border:0;border-bottom:1px solid #eee}
td::before{content:attr(data-label);display:block;font-weight:bold;font-size:.8rem}}
@media print{nav{page-break-after:always}.scroll{overflow:visible}
thead{display:table-header-group}tr{page-break-inside:avoid}a{color:inherit}}
"""


@lru_cache(maxsize=1024)
def category_words(category: str | None) -> str:
    if not category:
        return "Not classified"
    parts = category.split(".")
    for size in (2, 1):
        words = CATEGORY_WORDS.get(".".join(parts[:size]))
        if words:
            return words
    return category


class ReportEntry(NamedTuple):
    """One dataset as the report shows it, with the files it was written to."""

    data: DatasetRows
    schema: DatasetSchema
    files: tuple[str, ...]  # paths relative to data/


def main_kind(schema: DatasetSchema) -> str:
    return _main_kind(schema.categories)


@lru_cache(maxsize=1024)
def _main_kind(categories: tuple[str | None, ...]) -> str:
    counts = Counter(category_words(c) for c in categories)
    return min(counts, key=lambda k: (-counts[k], k)) if counts else "Not classified"


@lru_cache(maxsize=1024)
def _kinds(categories: tuple[str | None, ...]) -> str:
    """The kinds of data among these categories, in words, sorted, comma separated, escaped
    for HTML."""
    return _e(", ".join(sorted({category_words(c) for c in categories})))


_SPECIAL = re.compile("[&<>\"']")  # what html.escape(quote=True) replaces


def _e(text: str) -> str:
    return html.escape(text, quote=True) if _SPECIAL.search(text) else text


def _head(meta: ReadmeMeta) -> str:
    what = KIND_TEXT.get(meta.kind, f"your personal data ({meta.kind} request)")
    title = f"Your data from {meta.tenant}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<header><h1>{_e(title)}</h1><p>This report holds {_e(what)}. It was prepared by "
        f"{_e(meta.tenant)} for {_e(meta.subject_label)} (request {_e(meta.request_id)}) on "
        f"{meta.created.date().isoformat()}. What it covers: {_e(meta.scope)}.</p>"
        '<p class="muted">The same data is in the other files of this package, in formats '
        "programs can import. README.txt explains each file and how to check that nothing "
        "was changed.</p></header>\n"
    )


class _Shown(NamedTuple):
    """A dataset as the report lists it: its number (its anchor), its main kind of data and
    its record count in words, worked out once for the contents and the section."""

    number: int
    entry: ReportEntry
    kind: str
    records: str  # the record count in words


def _grouped(entries: Sequence[ReportEntry]) -> list[tuple[str, list[_Shown]]]:
    systems: dict[str, list[_Shown]] = {}
    for number, entry in enumerate(entries, 1):
        shown = _Shown(number, entry, main_kind(entry.schema), _count(entry))
        systems.setdefault(entry.data.system, []).append(shown)
    for items in systems.values():
        items.sort(key=lambda shown: (shown.kind, shown.entry.data.dataset))
    return sorted(systems.items())


def _count(entry: ReportEntry) -> str:
    """How many records, in words (digits and letters only: nothing to escape)."""
    rows = len(entry.data.rows)
    return "no records" if rows == 0 else "1 record" if rows == 1 else f"{rows} records"


def _toc(groups: list[tuple[str, list[_Shown]]]) -> str:
    parts = ["<nav><h2>Contents</h2><ol>"]
    for s_number, (system, items) in enumerate(groups, 1):
        parts.append(f'<li><a href="#system-{s_number}">From {_e(system)}</a><ol>')
        for shown in items:
            label = _e(f"{shown.entry.data.dataset} ({shown.kind}): {shown.records}")
            parts.append(f'<li><a href="#dataset-{shown.number}">{label}</a></li>')
        parts.append("</ol></li>")
    parts.append("</ol></nav>\n<main>\n")
    return "".join(parts)


def _table_head(entry: ReportEntry) -> str:
    cells = "".join(
        f"<th>{_e(f.name)}<small>{_e(category_words(f.category))}</small></th>"
        for f in entry.schema.fields
    )
    return f'<div class="scroll"><table><thead><tr>{cells}</tr></thead><tbody>\n'


def _cell(value: object) -> str:
    text = to_text(value)
    if len(text) > _CELL_LIMIT:
        text = text[:_CELL_LIMIT] + " … (shortened here; the full text is in the data files)"
    return _e(text)


def _dataset(sink: BytesSink, shown: _Shown, include_rows: bool) -> None:
    entry = shown.entry
    files = ", ".join(f'<a href="{p}">{p}</a>' for p in map(_e, entry.files))
    kinds = _kinds(entry.schema.categories)
    sink.write(
        (
            f'<section id="dataset-{shown.number}"><h3>{_e(entry.data.dataset)}</h3>'
            f"<p>{shown.records.capitalize()}. Kinds of data: {kinds}. "
            f"Files: {files or 'none'}.</p>\n"
        ).encode("utf-8", "replace")
    )
    if include_rows and entry.data.rows:
        labels = [(f.name, _e(f.name)) for f in entry.schema.fields]
        sink.write(_table_head(entry).encode("utf-8", "replace"))
        buffer: list[str] = []
        for row in entry.data.rows:
            cells = "".join(f'<td data-label="{lab}">{_cell(row.get(n))}</td>' for n, lab in labels)
            buffer.append(f"<tr>{cells}</tr>\n")
            if len(buffer) >= 256:
                sink.write("".join(buffer).encode("utf-8", "replace"))
                buffer.clear()
        sink.write(("".join(buffer) + "</tbody></table></div>\n").encode("utf-8", "replace"))
    sink.write(b"</section>\n")


def write_report(
    sink: BytesSink,
    meta: ReadmeMeta,
    entries: Sequence[ReportEntry],
    include_rows: bool,
    other_files: Sequence[tuple[str, int]] = (),
) -> None:
    groups = _grouped(entries)
    sink.write(_head(meta).encode("utf-8", "replace"))
    sink.write(_toc(groups).encode("utf-8", "replace"))
    for s_number, (system, items) in enumerate(groups, 1):
        sink.write(
            f'<section id="system-{s_number}"><h2>From {_e(system)}</h2>\n'.encode(
                "utf-8", "replace"
            )
        )
        for shown in items:
            _dataset(sink, shown, include_rows)
        sink.write(b"</section>\n")
    listing = "".join(f"<li>{_e(n)} ({human_size(b)})</li>" for n, b in other_files)
    sink.write(
        (
            "</main>\n<footer><h2>Also in this package</h2><ul>"
            f"{listing}<li>README.txt: what each file is and how to check the package</li>"
            "</ul></footer></body></html>\n"
        ).encode("utf-8", "replace")
    )
