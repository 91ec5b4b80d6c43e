"""vCard and iCalendar content lines: the chunked writers give the bytes of the row-by-row
reference for any values, every line is folded at 75 octets, and values read back."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import icalendar
import pytest
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ferry.domain.models import DatasetRows
from ferry.export.schema import infer_schema
from ferry.export.writers import WriterOptions, get_writer
from ferry.export.writers import csvw as csvw_module
from ferry.export.writers import ical as ical_module
from ferry.export.writers import vcard as vcard_module
from ferry.export.writers import xmlw as xmlw_module
from ferry.export.writers.contentline import escape, line_text, unescape, unfold
from ferry.export.writers.csvw import cell_text, neutralise
from ferry.export.writers.ical import IcalWriter
from ferry.export.writers.xmlw import XmlWriter
from tests.unit.reference_writers import ical_rows, vcard_rows, xml_rows

HOSTILE = [
    "",
    "   ",
    "plain",
    "a, b; c \\ d",
    "line1\nline2\r\nline3\rline4",
    "ends with CR\r",
    "\r\n",
    "ctrl \x00\x01\x08\x0b\x0c\x1f\x7f\t end",
    "lone \ud800 surrogate",
    "Ünïcödé 🚢 中文 עברית",
    "ü" * 80,
    "x" * 74 + "🚢" * 3,
    "long " * 60,
]
CONTACT_CATS: dict[str, str | None] = {
    "first": "user.name.first",
    "last": "user.name.last",
    "full": "user.name",
    "email": "user.contact.email",
    "email2": "user.contact.email",
    "phone": "user.contact.phone_number",
    "street": "user.contact.address.street",
    "city": "user.contact.address.city",
    "born": "user.demographic.date_of_birth",
    "note": None,
}
STAMP = datetime(2024, 5, 1, 12, tzinfo=UTC)

texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=120))
values = st.one_of(
    st.none(),
    texts,
    st.integers(),
    st.decimals(allow_nan=False, places=3),
    st.booleans(),
    st.dates(),
)
moments = st.one_of(
    st.none(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(0)), timezone.min])),
    st.datetimes(),
    st.dates(),
    st.sampled_from(["2024-01-02T03:04:05+02:00", " 2024-01-02 ", "not a date", ""]),
    st.integers(),
)


def _bytes(write: object, data: DatasetRows) -> bytes:
    out = io.BytesIO()
    write(out, data)  # type: ignore[operator]
    return out.getvalue()


def vcard(data: DatasetRows) -> bytes:
    return _bytes(lambda out, d: get_writer("vcard").write(out, d, infer_schema(d)), data)


def ical(data: DatasetRows, *, rows: bool = False) -> bytes:
    writer = IcalWriter(WriterOptions(stamp=STAMP))
    if rows:
        return _bytes(lambda out, d: ical_rows(writer, out, d, infer_schema(d)), data)
    return _bytes(lambda out, d: writer.write(out, d, infer_schema(d)), data)


def assert_folded(raw: bytes) -> None:
    assert raw.endswith(b"\r\n")
    for line in raw[:-2].split(b"\r\n"):
        assert 0 < len(line) <= 75, line
        line.decode("utf-8")  # never cut inside a character
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")


@pytest.fixture(params=[1, 3, 256])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    size: int = request.param
    monkeypatch.setattr(vcard_module, "CHUNK", size)
    monkeypatch.setattr(ical_module, "CHUNK", size)
    return size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.fixed_dictionaries({k: values for k in CONTACT_CATS}), max_size=12),
    size=st.sampled_from([1, 2, 5, 256]),
)
def test_vcard_chunks_give_the_row_by_row_bytes(rows: list[dict[str, object]], size: int) -> None:
    data = DatasetRows("crm", "people", dict(CONTACT_CATS), rows)
    vcard_module.CHUNK, before = size, vcard_module.CHUNK
    try:
        raw = vcard(data)
    finally:
        vcard_module.CHUNK = before
    assert raw == _bytes(vcard_rows, data)
    if rows:
        assert_folded(raw)
        assert raw.count(b"BEGIN:VCARD\r\n") == len(rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries({"at": moments, "id": values, "body": values, "n": values}),
        max_size=12,
    ),
    size=st.sampled_from([1, 2, 5, 256]),
    dataset=st.sampled_from(["orders", "a_b;c\r", "long" * 60]),
)
def test_ical_chunks_give_the_row_by_row_bytes(
    rows: list[dict[str, object]], size: int, dataset: str
) -> None:
    data = DatasetRows("shop, eu", dataset, {}, rows, timestamp="at")
    ical_module.CHUNK, before = size, ical_module.CHUNK
    try:
        raw = ical(data)
    finally:
        ical_module.CHUNK = before
    assert raw == ical(data, rows=True)
    assert_folded(raw)


def test_ical_uids_keep_row_numbers_across_chunks(chunk: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[dict[str, object]] = [
        {"at": None if i % 3 == 1 else start + timedelta(minutes=i), "i": i} for i in range(50)
    ]
    data = DatasetRows("s", "d", {}, rows, timestamp="at")
    raw = ical(data)
    assert raw == ical(data, rows=True)
    events = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    assert len(events) == 50 - 50 // 3 - (1 if 50 % 3 == 2 else 0)
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert [int(str(e["DESCRIPTION"]).removeprefix("i: ")) for e in events] == [
        i for i in range(50) if i % 3 != 1
    ]


def test_ical_times_column_by_column(chunk: int) -> None:
    plus_two = timezone(timedelta(hours=2))
    whens: list[object] = [
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # microseconds are dropped
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=plus_two),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(0))),
        datetime(2024, 1, 2, 3, 4, 5),
        date(2024, 1, 2),
        time(3, 4),  # not a date: left out
    ]
    for values in ([w] for w in whens):  # one kind per dataset: the fast paths
        data = DatasetRows("s", "d", {}, [{"at": v} for v in values * 3], timestamp="at")
        assert ical(data) == ical(data, rows=True)
    data = DatasetRows("s", "d", {}, [{"at": v} for v in whens], timestamp="at")
    raw = ical(data)
    assert raw == ical(data, rows=True)
    starts = re.findall(rb"DTSTART[^\r]*", raw)
    assert starts == [
        b"DTSTART:20240102T030405Z",
        b"DTSTART:20240102T030405Z",
        b"DTSTART:20240102T010405Z",
        b"DTSTART:09990102T030405Z",
        b"DTSTART:20240102T030405",
        b"DTSTART;VALUE=DATE:20240102",
    ]


def expected(text: str) -> str:
    """What a text value reads back as: one line break for CR LF, CR or LF, the control
    characters the grammar forbids as spaces, lone surrogates as ``?``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub("[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def test_hostile_values_read_back_in_independent_parsers(chunk: int) -> None:
    people: list[dict[str, object]] = [
        {"full": text, "email": f"{i}@example.org", "street": text}
        for i, text in enumerate(HOSTILE)
    ]
    cats: dict[str, str | None] = {
        "full": "user.name",
        "email": "user.contact.email",
        "street": "user.contact.address.street",
    }
    raw = vcard(DatasetRows("crm", "people", cats, people))
    assert_folded(raw)
    cards = list(vobject.readComponents(raw.decode("utf-8")))
    assert len(cards) == len(HOSTILE)
    for card, text in zip(cards, HOSTILE, strict=True):
        assert card.fn.value == (expected(text.strip()) or "Unnamed contact")
        if text.strip():
            assert card.adr.value.street == expected(text.strip())

    events: list[dict[str, object]] = [
        {"at": datetime(2024, 1, 1, tzinfo=UTC), "body": text} for text in HOSTILE
    ]
    raw = ical(DatasetRows("desk", "notes", {}, events, timestamp="at"))
    assert_folded(raw)
    parsed = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    for event, text in zip(parsed, HOSTILE, strict=True):
        assert str(event["DESCRIPTION"]) == f"body: {expected(text)}"
        assert str(event["SUMMARY"]) == f"notes: {expected(text)}"[:200]


@pytest.mark.parametrize("text", HOSTILE)
def test_line_text_folds_at_75_octets_and_unfolds_back(text: str) -> None:
    line = f"DESCRIPTION:{escape(text)}"
    raw = line_text(line).encode("utf-8", "replace")
    assert_folded(raw)
    (back,) = unfold(raw.decode("utf-8"))
    assert back == line.encode("utf-8", "replace").decode("utf-8")
    assert unescape(back.removeprefix("DESCRIPTION:")) == expected(text)


def test_long_ascii_lines_fold_the_same_at_every_length() -> None:
    for size in range(60, 1400, 7):
        line = "".join(chr(33 + i % 90) for i in range(size))
        got = line_text(line)
        pieces = [line[:75], *(line[i : i + 74] for i in range(75, size, 74))]
        assert got == "\r\n ".join(pieces) + "\r\n"


def test_typed_values_in_a_card_and_an_event() -> None:
    row: dict[str, object] = {
        "full": Decimal("1E+2"),
        "email": 42,
        "born": datetime(1990, 5, 17, 8, tzinfo=UTC),
        "at": datetime(2024, 1, 1, tzinfo=UTC),
    }
    data = DatasetRows("s", "d", dict(CONTACT_CATS), [row] * 3)
    raw = vcard(data)
    assert raw == _bytes(vcard_rows, data)
    assert b"FN:100\r\n" in raw and b"EMAIL:42\r\n" in raw and b"BDAY:19900517\r\n" in raw


# --- CSV, built column by column too ----------------------------------------------------------

csv_values = st.one_of(
    values,
    st.sampled_from(["=1+1", "+1", "-1", "@x", "\tx", "\rx", "'x", "a\x00=b"]),
    st.datetimes(timezones=st.sampled_from([UTC, timezone.min])),
    st.lists(st.integers(), max_size=2),
    st.floats(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.dictionaries(st.sampled_from(["a", "b", "=c"]), csv_values), max_size=12),
    size=st.sampled_from([1, 2, 5, 512]),
)
def test_csv_batches_give_the_cell_by_cell_bytes(rows: list[dict[str, object]], size: int) -> None:
    data = DatasetRows("s", "d", {}, rows)
    schema = infer_schema(data)
    csvw_module._BATCH, before = size, csvw_module._BATCH
    try:
        raw = _bytes(lambda out, d: get_writer("csv").write(out, d, schema), data)
    finally:
        csvw_module._BATCH = before
    want = io.StringIO()
    out = csv.writer(want, lineterminator="\r\n")
    names = [f.name for f in schema.fields]
    out.writerow([neutralise(n) for n in names])
    out.writerows([[cell_text(row.get(n)) for n in names] for row in rows])
    assert raw == want.getvalue().encode("utf-8", "replace")


# --- XML, built column by column too ----------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "1st"]),
            st.one_of(csv_values, st.sampled_from(["<&>", "x\ry", "\x00", "\ud800", ""])),
        ),
        max_size=12,
    ),
    size=st.sampled_from([1, 2, 5, 256]),
)
def test_xml_batches_give_the_row_by_row_bytes(rows: list[dict[str, object]], size: int) -> None:
    data = DatasetRows("s<", "d&", {}, rows)
    schema = infer_schema(data)
    writer = XmlWriter(WriterOptions())
    xmlw_module._BATCH, before = size, xmlw_module._BATCH
    try:
        raw = _bytes(lambda out, d: writer.write(out, d, schema), data)
    finally:
        xmlw_module._BATCH = before
    assert raw == _bytes(lambda out, d: xml_rows(out, d, schema), data)
    assert len(etree.fromstring(raw).findall("row")) == len(rows)
