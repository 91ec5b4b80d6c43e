"""A test double for the writer protocol: records what it was asked to write."""

from __future__ import annotations

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.writers.base import WriterOptions


class RecordingWriter:
    """Writes ``repr`` of each row, one per line, and remembers the datasets it saw."""

    name = "recording"
    extension = "txt"
    media_type = "text/plain"
    title = "test lines"

    def __init__(self, options: WriterOptions | None = None, only: str | None = None) -> None:
        self.options = options or WriterOptions()
        self.only = only
        self.seen: list[str] = []

    def fits(self, data: DatasetRows) -> bool:
        return self.only is None or data.dataset == self.only

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        self.seen.append(f"{data.system}/{data.dataset}")
        count = 0
        for row in data.rows:
            sink.write(repr(sorted(row.items(), key=lambda kv: kv[0])).encode() + b"\n")
            count += 1
        return count
