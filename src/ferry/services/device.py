"""device requests: the ``ferry-device/1`` document built from the request's package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferry.collect.datamap import load_datamap
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.export.device import DeviceRole, build
from ferry.services import packaging
from ferry.services.audit import record
from ferry.services.requests import load
from ferry.settings import get_settings
from ferry.store import requests, systems


def export(request_id: str, actor: str, tenant_id: int | None = None) -> dict[str, Any]:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        package = requests.latest_package(session, req.id)
        if package is None or not Path(package.path).is_file():
            raise FerryError("this request has no package yet", code="no_package", status=404)
        roles: dict[tuple[str, str], DeviceRole] = {}
        for system in systems.for_tenant(session, tenant.id):
            for ds in load_datamap(system.datamap).datasets.values():
                if ds.device:
                    roles[(system.name, ds.name)] = DeviceRole(ds.device, ds.timestamp)
        provider = tenant.name
        plain = get_settings().var_dir / "tmp" / "device" / f"{req.id}.zip"
        path = packaging.plain_copy(session, package, tenant.id, plain)
    try:
        doc = build(path, roles, provider, request_id, utcnow())
    finally:
        path.unlink(missing_ok=True)
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        counts = {k: len(doc[k]) for k in ("settings", "preferences", "activity")}
        record(session, tenant.id, actor, "device.exported", req.id, counts)
    return doc
