"""Every format reads back to the same values; hostile values stay harmless and lossless."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import icalendar
import pytest
import vobject
from lxml import etree

from ferry.domain.errors import InvalidInput
from ferry.domain.models import DatasetRows
from ferry.export.schema import infer_schema
from ferry.export.values import to_text
from ferry.export.writers import WriterOptions, get_writer, known_formats, parse_formats
from ferry.export.writers.csvw import BOM, unneutralise
from ferry.export.writers.testing import RecordingWriter
from ferry.export.writers.xmlw import read_value, xsd_document

BIG = "x" * (10 * 2**20)
HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+SUM(A1:A2)",
    "-2+3",
    "@SUM(1)",
    "\tTAB",
    "\rCR",
    "'quoted",
    "ctrl \x00\x01\x08\x0b\x0c\x1f\x7f end",
    "lone \ud800 surrogate",
    "\ufffe\uffff non-characters",
    "line1\nline2\r\nline3\rline4",
    'quotes " and , commas ; semis \\ backslash',
    "<tag attr='x'>&amp;</tag> ]]> <!-- -->",
    "Ünïcödé 🚢 中文 עברית",
    "caf\xe9 (latin-1 decoded) and cafe\u0301 (combining)",
    "",
]


def hostile_rows() -> DatasetRows:
    rows: list[dict[str, object]] = [{"id": i, "text": value} for i, value in enumerate(HOSTILE)]
    rows.append({"id": 99, "text": None})
    return DatasetRows("crm", "notes", {"id": "user.unique_id", "text": "user.content"}, rows)


def typed_rows() -> DatasetRows:
    rows: list[dict[str, object]] = [
        {
            "n": -5,
            "amount": Decimal("1E+2"),
            "ratio": 0.1,
            "ok": True,
            "at": datetime(2024, 3, 2, 10, 30, 0, 123456, tzinfo=UTC),
            "day": date(2024, 2, 29),
            "opens": time(9, 0),
            "took": timedelta(days=1, seconds=5),
            "blob": b"\x00\xff",
            "tags": ["a", "b"],
            "extra": {"k": 1},
        },
        {"n": 7, "amount": Decimal("0.10"), "ratio": float("inf"), "ok": False},
    ]
    return DatasetRows("shop", "typed", {"n": "user.unique_id"}, rows)


def write(fmt: str, data: DatasetRows, **options: object) -> bytes:
    out = io.BytesIO()
    writer = get_writer(fmt, WriterOptions(**options))  # type: ignore[arg-type]
    writer.write(out, data, infer_schema(data))
    return out.getvalue()


def expected_text(value: object) -> str:
    return to_text(value)


# --- CSV ---------------------------------------------------------------------------------


def read_csv(raw: bytes) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    text = raw.removeprefix(BOM).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [unneutralise(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_csv_neutralises_formulas_and_reads_back() -> None:
    data = hostile_rows()
    raw = write("csv", data)
    parsed = read_csv(raw)
    text = raw.decode("utf-8")
    assert "\r\n'=cmd|' /C calc'!A0\r\n" not in text  # quoted, and prefixed
    for line in csv.reader(io.StringIO(text, newline="")):
        for cell in line:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    for row, original in zip(parsed, data.rows, strict=True):
        want = original["text"]
        got = unneutralise(row["text"])
        if isinstance(want, str) and "\ud800" in want:
            want = want.replace("\ud800", "?")  # lone surrogates cannot be UTF-8
        assert got == ("" if want is None else want)


def test_csv_keeps_numbers_as_numbers_and_adds_bom_on_request() -> None:
    data = typed_rows()
    raw = write("csv", data, csv_bom=True)
    assert raw.startswith(BOM)
    row = read_csv(raw)[0]
    assert row["n"] == "-5"  # a number is never prefixed
    assert row["amount"] == "100" and row["ratio"] == "0.1" and row["ok"] == "true"
    assert row["at"] == "2024-03-02T10:30:00.123456+00:00"
    assert json.loads(unneutralise(row["tags"])) == ["a", "b"]
    assert read_csv(write("csv", data))[1]["ratio"] == "INF"


def test_csv_ten_megabyte_cell() -> None:
    data = DatasetRows("s", "big", {}, [{"body": BIG, "after": "=1"}])
    assert read_csv(write("csv", data))[0] == {"body": BIG, "after": "'=1"}


# --- XML ---------------------------------------------------------------------------------


def parse_xml(data: DatasetRows) -> tuple[etree._Element, etree.XMLSchema]:
    raw = write("xml", data)
    schema = etree.XMLSchema(etree.fromstring(xsd_document(data, infer_schema(data))))
    root = etree.fromstring(raw, etree.XMLParser(huge_tree=True))
    return root, schema


def test_xml_is_valid_against_its_xsd_and_lossless_for_hostile_text() -> None:
    data = hostile_rows()
    root, schema = parse_xml(data)
    schema.assertValid(root)
    rows = root.findall("row")
    assert len(rows) == len(data.rows)
    for element, original in zip(rows, data.rows, strict=True):
        text = element.find("text")
        if original["text"] is None:
            assert text is None
        else:
            assert text is not None
            assert read_value(text.text, text.get("encoding")) == original["text"]


def test_xml_types_validate_and_values_read_back() -> None:
    data = typed_rows()
    root, schema = parse_xml(data)
    schema.assertValid(root)
    first = root.findall("row")[0]
    for key, value in data.rows[0].items():
        element = first.find(key)
        assert element is not None, key
        assert read_value(element.text, element.get("encoding")) == expected_text(value)


def test_xml_field_names_become_valid_element_names() -> None:
    rows: list[dict[str, object]] = [{"1st": 1, "xml:lang": "x", "a b": 2, "a_b": 3, "row": 4}]
    data = DatasetRows("s", "d", {}, rows)
    root, schema = parse_xml(data)
    schema.assertValid(root)
    assert [e.tag for e in root.find("row")] == ["_1st", "_xml_lang", "a_b", "a_b_2", "row_2"]


def test_xml_ten_megabyte_cell() -> None:
    root, _ = parse_xml(DatasetRows("s", "big", {}, [{"body": BIG}]))
    assert root.find("row/body").text == BIG  # type: ignore[union-attr]


# --- vCard and iCalendar -------------------------------------------------------------------

CONTACT_CATS = {
    "first": "user.name.first",
    "last": "user.name.last",
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "street": "user.contact.address.street",
    "city": "user.contact.address.city",
    "born": "user.demographic.date_of_birth",
}


def contacts() -> DatasetRows:
    rows: list[dict[str, object]] = [
        {
            "first": "Ana; Maria",
            "last": "O'Neil, Jr",
            "email": "ana@example.org",
            "phone": "+44 20 7946 0958",
            "street": "1 Long " + "Road " * 30,
            "city": "Zürich",
            "born": date(1990, 5, 17),
        },
        {"first": "Bo", "last": None, "email": "bo@example.org"},
    ]
    return DatasetRows("crm", "customers", CONTACT_CATS, rows)


def test_vcard_reads_back_in_an_independent_parser() -> None:
    data = contacts()
    writer = get_writer("vcard")
    assert writer.fits(data) and not writer.fits(hostile_rows())
    raw = write("vcard", data)
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    cards = list(vobject.readComponents(raw.decode("utf-8")))
    assert len(cards) == 2
    first = cards[0]
    assert first.version.value == "4.0"
    assert first.fn.value == "Ana; Maria O'Neil, Jr"
    assert first.email.value == "ana@example.org"
    assert first.tel.value == "+44 20 7946 0958"
    assert first.n.value.given == "Ana; Maria" and first.n.value.family == "O'Neil, Jr"
    assert first.adr.value.city == "Zürich"
    assert first.adr.value.street == str(data.rows[0]["street"]).strip()
    assert first.bday.value == "19900517"
    assert cards[1].fn.value == "Bo"


def test_ical_reads_back_and_skips_undated_rows() -> None:
    rows: list[dict[str, object]] = [
        {"id": 1, "opened": datetime(2024, 3, 2, 10, 30, tzinfo=UTC), "body": "a, b; c\nd"},
        {"id": 2, "opened": date(2024, 3, 3), "body": "x"},
        {"id": 3, "opened": None, "body": "no date"},
    ]
    data = DatasetRows("desk", "tickets", {}, rows, timestamp="opened")
    writer = get_writer("ical", WriterOptions(stamp=datetime(2024, 5, 1, tzinfo=UTC)))
    assert writer.fits(data) and not writer.fits(contacts())
    raw = write("ical", data, stamp=datetime(2024, 5, 1, tzinfo=UTC))
    calendar = icalendar.Calendar.from_ical(raw)
    events = calendar.walk("VEVENT")
    assert len(events) == 2
    assert events[0].decoded("DTSTART") == datetime(2024, 3, 2, 10, 30, tzinfo=UTC)
    assert events[1].decoded("DTSTART") == date(2024, 3, 3)
    assert "body: a, b; c\nd" in str(events[0]["DESCRIPTION"])
    assert raw == write("ical", data, stamp=datetime(2024, 5, 1, tzinfo=UTC))  # stable UIDs


def test_model_hint_overrides_inference() -> None:
    data = contacts()
    data.model = "event"
    assert not get_writer("vcard").fits(data)


# --- registry ------------------------------------------------------------------------------


def test_registry_knows_every_format_and_rejects_others() -> None:
    assert set(known_formats()) == {"json", "csv", "xml", "html", "vcard", "ical"}
    assert parse_formats(" CSV,json,,csv ") == ("csv", "json")
    with pytest.raises(InvalidInput, match="unknown format"):
        parse_formats("json,pdf")
    with pytest.raises(InvalidInput, match="at least one"):
        parse_formats(" , ")
    with pytest.raises(InvalidInput, match="unknown format"):
        get_writer("html")  # the report is the package's index.html, not a per-dataset writer


def test_recording_double_follows_the_protocol() -> None:
    double = RecordingWriter(only="notes")
    out = io.BytesIO()
    assert double.fits(hostile_rows()) and not double.fits(contacts())
    assert double.write(out, hostile_rows(), infer_schema(hostile_rows())) == len(HOSTILE) + 1
    assert double.seen == ["crm/notes"]
