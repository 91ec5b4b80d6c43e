"""Package writers, one per format, in a registry keyed by format name (see ``base``)."""

from ferry.export.writers.base import (
    DEFAULT_FORMATS,
    REPORT_FORMAT,
    Writer,
    WriterOptions,
    get_writer,
    known_formats,
    parse_formats,
    register,
)
from ferry.export.writers.csvw import CsvWriter
from ferry.export.writers.ical import IcalWriter
from ferry.export.writers.jsonw import JsonWriter
from ferry.export.writers.vcard import VcardWriter
from ferry.export.writers.xmlw import XmlWriter

register("json", JsonWriter)
register("csv", CsvWriter)
register("xml", XmlWriter)
register("vcard", VcardWriter)
register("ical", IcalWriter)

__all__ = [
    "DEFAULT_FORMATS",
    "REPORT_FORMAT",
    "Writer",
    "WriterOptions",
    "get_writer",
    "known_formats",
    "parse_formats",
    "register",
]
