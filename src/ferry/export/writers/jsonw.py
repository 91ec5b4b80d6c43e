"""JSON: one document per dataset, ``{"system", "dataset", "fields", "rows": [...]}``."""

from __future__ import annotations

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink, write_dataset
from ferry.export.schema import DatasetSchema
from ferry.export.writers.base import WriterOptions


class JsonWriter:
    name = "json"
    extension = "json"
    media_type = "application/json"
    title = "JSON (for programs and data tools; opens in any text editor or browser)"

    def __init__(self, options: WriterOptions) -> None:
        self.options = options

    def fits(self, data: DatasetRows) -> bool:
        return True

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        fields = schema.field_categories
        return write_dataset(sink, data, schema.float_fields, fields, schema.simple)
