"""XML: one document per dataset, and an XSD describing it.

    <dataset system="shop" name="customers">
      <row><id>1</id><email>jo@example.com</email></row>
    </dataset>

Rows are written as text (escaped, so the document is always well-formed; lxml builds the
XSD and the tests parse and validate every document with it). Each field is an element named
after the field (made a valid XML name; the XSD and
``datapackage.json`` give the original). A missing value is an absent element. Text holding
characters XML 1.0 cannot carry (most control characters, lone surrogates) is written as
base64 of its UTF-8 bytes with ``encoding="base64"``, so nothing is lost and the document is
always well-formed. Values are typed in the XSD (xs:integer, xs:dateTime, ...).
"""

from __future__ import annotations

import base64
import re
from datetime import date, datetime
from decimal import Decimal
from typing import cast
from xml.sax.saxutils import quoteattr

from lxml import etree

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema, FieldInfo
from ferry.export.values import to_text
from ferry.export.writers.base import WriterOptions, batches
from ferry.export.writers.columns import Columns, text_column

XS = "http://www.w3.org/2001/XMLSchema"
INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NEEDS_WORK = re.compile("[&<>\r]|[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BATCH = 256
Texts = list[str]
_DIGITS = {int, Decimal, datetime, date}  # their text never needs escaping
XSD_TYPES = {
    "integer": "xs:integer",
    "number": "xs:double",
    "boolean": "xs:boolean",
    "datetime": "xs:dateTime",
    "date": "xs:date",
    "time": "xs:time",
    "duration": "xs:duration",
}


def xml_value(value: object) -> tuple[str, bool]:
    """``(text, is_base64)`` for one value."""
    text = to_text(value)
    if INVALID_XML.search(text):
        raw = text.encode("utf-8", "surrogatepass")
        return base64.b64encode(raw).decode("ascii"), True
    return text, False


def read_value(text: str | None, encoding: str | None) -> str:
    """The original text of an element written by :class:`XmlWriter`."""
    if encoding == "base64":
        return base64.b64decode(text or "").decode("utf-8", "surrogatepass")
    return text or ""


class XmlWriter:
    name = "xml"
    extension = "xml"
    media_type = "application/xml"
    title = "XML (for programs; described by the .xsd file beside it)"

    def __init__(self, options: WriterOptions) -> None:
        self.options = options

    def fits(self, data: DatasetRows) -> bool:
        return True

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        tags = [(f.name, f.xml_name, f"<{f.xml_name}>", f"</{f.xml_name}>") for f in schema.fields]
        system, name = _attr(data.system), _attr(data.dataset)
        head = f"<?xml version='1.0' encoding='UTF-8'?>\n<dataset system={system} name={name}>"
        sink.write(head.encode())
        count = 0
        for rows in batches(data.rows, _BATCH):
            out = Columns(len(rows))
            out.const("\n<row>")
            for name, tag, opening, closing in tags:
                _elements(out, [row.get(name) for row in rows], tag, opening, closing)
            out.const("</row>")
            sink.write(out.text().encode("utf-8"))
            count += len(rows)
        sink.write(b"\n</dataset>\n")
        return count

    def companion(self, data: DatasetRows, schema: DatasetSchema) -> tuple[str, bytes]:
        return "xsd", xsd_document(data, schema)


def _escaped(value: object) -> tuple[str, bool]:
    """Element text, escaped; ``True`` when it had to be base64."""
    kind = type(value)
    if kind is int or kind is Decimal or kind is datetime:
        return to_text(value), False  # digits, signs, dots, colons: nothing to escape
    text = to_text(value)
    if not _NEEDS_WORK.search(text):
        return text, False
    if INVALID_XML.search(text):
        return xml_value(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;"), False  # a raw CR would be read back as LF


def _attr(value: str) -> str:
    text, _ = xml_value(value)
    return quoteattr(text, {"\r": "&#13;", "\n": "&#10;", "\t": "&#9;"})


def _elements(out: Columns, values: list[object], tag: str, opening: str, closing: str) -> None:
    """One field's elements for a batch of rows (as ``_row``): a column of one common type
    whose text needs no escaping goes in as it is, checked once."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind is type(None):
            return  # a missing value is an absent element
        if kind in _DIGITS or (
            kind is str and not _NEEDS_WORK.search("".join(cast(Texts, values)))
        ):
            out.const(opening)
            out.column(text_column(values))
            out.const(closing)
            return
    out.column([_element(value, tag, opening, closing) for value in values])


def _element(value: object, tag: str, opening: str, closing: str) -> str:
    if value is None:
        return ""
    if type(value) is str and not _NEEDS_WORK.search(value):
        return opening + value + closing
    text, encoded = _escaped(value)
    return f'<{tag} encoding="base64">{text}</{tag}>' if encoded else opening + text + closing


def xsd_document(data: DatasetRows, schema: DatasetSchema) -> bytes:
    """An XSD that the dataset's XML document validates against."""
    root = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
    root.set("elementFormDefault", "qualified")
    _doc(root, f"Records of dataset {data.dataset!r} from system {data.system!r}.")
    text_type = etree.SubElement(root, f"{{{XS}}}complexType", name="text")
    content = etree.SubElement(text_type, f"{{{XS}}}simpleContent")
    extension = etree.SubElement(content, f"{{{XS}}}extension", base="xs:string")
    attr = etree.SubElement(extension, f"{{{XS}}}attribute", name="encoding")
    attr.set("type", "xs:string")
    dataset = etree.SubElement(root, f"{{{XS}}}element", name="dataset")
    complex_ = etree.SubElement(dataset, f"{{{XS}}}complexType")
    rows = etree.SubElement(complex_, f"{{{XS}}}sequence")
    row = etree.SubElement(rows, f"{{{XS}}}element", name="row", minOccurs="0")
    row.set("maxOccurs", "unbounded")
    fields = etree.SubElement(etree.SubElement(row, f"{{{XS}}}complexType"), f"{{{XS}}}sequence")
    for info in schema.fields:
        _field_element(fields, info)
    for name in ("system", "name"):
        etree.SubElement(complex_, f"{{{XS}}}attribute", name=name, type="xs:string")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _field_element(parent: etree._Element, info: FieldInfo) -> None:
    kind = XSD_TYPES.get(info.type, "text")
    element = etree.SubElement(parent, f"{{{XS}}}element", name=info.xml_name, type=kind)
    element.set("minOccurs", "0")
    category = info.category or "not classified"
    note = f"field {info.name!r}; data category: {category}; provenance: {info.provenance}"
    if info.type in ("object", "array"):
        note += "; the value is JSON text"
    _doc(element, xml_value(note)[0])


def _doc(parent: etree._Element, text: str) -> None:
    annotation = etree.SubElement(parent, f"{{{XS}}}annotation")
    etree.SubElement(annotation, f"{{{XS}}}documentation").text = text
