"""``data/datapackage.json``: a Frictionless Data Package (v2) describing every data file.

One resource per file, with its format, size, sha256, source system, the data categories and
provenance of its fields, and (for tabular formats) a Table Schema. Ferry-specific properties
use the ``ferry:`` prefix, which the specification allows. Written compact (no spaces), with
real characters rather than ``\\u`` escapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

import orjson

from ferry.domain.models import DatasetRows
from ferry.export.readme import ReadmeMeta
from ferry.export.schema import DatasetSchema, FieldInfo

PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
_TABULAR = {"csv"}
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


class Resource(NamedTuple):
    path: str  # relative to data/
    format: str
    media_type: str
    data: DatasetRows
    schema: DatasetSchema
    rows: int
    bytes: int
    sha256: str


@lru_cache(maxsize=4096)
def resource_name(path: str) -> str:
    """A resource name from a file's path (a pure function of it: cached, the same files
    come back package after package)."""
    return _NOT_NAME.sub("-", path.lower()).strip("-") or "resource"


@lru_cache(maxsize=1024)
def _categories(categories: tuple[str | None, ...]) -> tuple[str, ...]:
    """The distinct categories among a schema's (``DatasetSchema.categories``), sorted."""
    return tuple(sorted({c for c in categories if c}))


def _field(f: FieldInfo) -> dict[str, object]:
    out: dict[str, object] = {"name": f.name, "type": f.type}
    if f.type in ("datetime", "date", "time"):
        out["format"] = "any"
    out["ferry:category"] = f.category
    out["ferry:provenance"] = f.provenance
    return out


def _resource(res: Resource, taken: set[str]) -> dict[str, object]:
    name, n = resource_name(res.path), 1
    while name in taken:
        n += 1
        name = f"{resource_name(res.path)}-{n}"
    taken.add(name)
    out: dict[str, object] = {
        "name": name,
        "path": res.path,
        "format": res.format,
        "mediatype": res.media_type,
        "encoding": "utf-8",
        "bytes": res.bytes,
        "hash": f"sha256:{res.sha256}",
        "sources": [{"title": res.data.system}],
        "ferry:system": res.data.system,
        "ferry:dataset": res.data.dataset,
        "ferry:rows": res.rows,
        "ferry:categories": _categories(res.schema.categories),
    }
    if res.format in _TABULAR:
        out["type"] = "table"
        out["dialect"] = {"header": True, "lineTerminator": "\r\n"}
        out["schema"] = {"fields": [_field(f) for f in res.schema.fields]}
        out["description"] = (
            "Text cells starting with = + - @ ' tab or carriage return have one extra leading "
            "apostrophe, so spreadsheets do not run them as formulas."
        )
    else:
        out["ferry:fields"] = [_field(f) for f in res.schema.fields]
    return out


def _utc_text(created: datetime) -> str:
    """``2026-01-01T00:00:00Z``: what ``strftime("%Y-%m-%dT%H:%M:%SZ")`` writes (from year
    1000 on), without strftime, which costs tens of microseconds when not called recently."""
    return created.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def datapackage(meta: ReadmeMeta, resources: Sequence[Resource]) -> bytes:
    created = meta.created.astimezone(UTC) if meta.created.tzinfo else meta.created
    taken: set[str] = set()
    doc = {
        "$schema": PROFILE,
        "name": resource_name(f"ferry-{meta.request_id}"),
        "title": f"Your data from {meta.tenant}",
        "description": f"{meta.kind} request {meta.request_id}; covers: {meta.scope}",
        "created": _utc_text(created),
        "contributors": [{"title": meta.tenant, "roles": ["publisher"]}],
        "resources": [_resource(r, taken) for r in resources],
    }
    try:
        return orjson.dumps(doc) + b"\n"
    except orjson.JSONEncodeError:  # a lone surrogate in a name: written as a \u escape
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
