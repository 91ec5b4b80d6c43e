"""The device export (``ferry-device/1``): settings, preferences and activity from a package, in
the documented format of ``device.schema.json`` (see docs/device-format.md).

Which datasets are device data, and of which kind, is said by the data map (``device: settings``,
``preferences`` or ``activity`` on a dataset); activity events take their time from the dataset's
``timestamp`` column.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ferry.domain.errors import FerryError

FORMAT = "ferry-device/1"


@dataclass(frozen=True)
class DeviceRole:
    kind: str  # settings | preferences | activity
    timestamp: str | None = None


def schema() -> dict[str, Any]:
    text = resources.files("ferry.export").joinpath("device.schema.json").read_text("utf-8")
    found: dict[str, Any] = json.loads(text)
    return found


def _plain(value: object) -> object:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


def build(
    package: Path,
    roles: dict[tuple[str, str], DeviceRole],
    provider: str,
    request_id: str,
    exported_at: datetime,
) -> dict[str, Any]:
    """Read the package's datasets and arrange the device ones; validated against the schema."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": exported_at.isoformat() + "Z",
        "source": {"provider": provider, "request": request_id},
        "settings": [],
        "preferences": [],
        "activity": [],
    }
    found = 0
    with zipfile.ZipFile(package) as zf:
        for name in sorted(zf.namelist()):
            parts = name.split("/")
            if len(parts) != 3 or parts[0] != "data" or not name.endswith(".json"):
                continue
            data = json.loads(zf.read(name))
            role = roles.get((str(data.get("system")), str(data.get("dataset"))))
            if role is None:
                continue
            found += 1
            _add(doc, role, data)
    if not found:
        raise FerryError(
            "this package holds no device data: mark device datasets in the data map "
            "(device: settings | preferences | activity)",
            code="no_device_data",
            status=409,
        )
    jsonschema.validate(doc, schema())
    return doc


def _add(doc: dict[str, Any], role: DeviceRole, data: dict[str, Any]) -> None:
    origin = f"{data['system']}/{data['dataset']}"
    fields = data.get("fields") or {}
    categories = {str(k): v for k, v in fields.items()} if isinstance(fields, dict) else {}
    for row in data.get("rows", []):
        values = {str(k): _plain(v) for k, v in row.items()}
        if role.kind == "activity":
            at = values.get(role.timestamp) if role.timestamp else None
            doc["activity"].append(
                {
                    "origin": origin,
                    "at": None if at is None else str(at),
                    "values": values,
                    "categories": categories,
                }
            )
        else:
            doc[role.kind].append({"origin": origin, "values": values, "categories": categories})
