"""Client systems: register one with its data map, and test that the map matches the system."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ferry.collect.datamap import load_datamap
from ferry.collect.fides import ferry_map_text, is_fides
from ferry.collect.scan import unreachable_warnings
from ferry.collect.taxonomy import map_warnings
from ferry.connectors.registry import open_connector
from ferry.crypto.secretbox import seal, unseal
from ferry.db import unit_of_work
from ferry.domain.errors import Conflict, InvalidInput
from ferry.services.audit import record
from ferry.services.scan import scan_url
from ferry.settings import get_settings
from ferry.store import systems, tenants
from ferry.store.tables import System


@dataclass(frozen=True)
class SystemView:
    name: str
    datasets: list[str]
    problems: list[str]
    warnings: list[str] = field(default_factory=list)


def ferry_map(name: str, map_text: str) -> tuple[str, list[str]]:
    """The map as Ferry YAML (a Fides dataset file is converted), and warnings about it."""
    warnings: list[str] = []
    try:
        parsed = yaml.safe_load(map_text)
    except yaml.YAMLError:
        parsed = None
    if is_fides(parsed):
        map_text, warnings = ferry_map_text(map_text, name)
    datamap = load_datamap(map_text)
    return map_text, [*warnings, *map_warnings(datamap), *unreachable_warnings(datamap)]


def split_password(url: str, credentials: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Move a password out of a database URL into the credentials (which are encrypted)."""
    if "://" not in url or url.startswith(("http://", "https://", "file://")):
        return url, credentials
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url, credentials
    if parsed.password is None:
        return url, credentials
    bare = URL.create(
        parsed.drivername,
        parsed.username,
        None,
        parsed.host,
        parsed.port,
        parsed.database,
        parsed.query,
    ).render_as_string(hide_password=False)
    return bare, {**credentials, "password": str(parsed.password)}


def _check(
    url: str, map_text: str, credentials: dict[str, str] | None = None
) -> tuple[list[str], list[str]]:
    datamap = load_datamap(map_text)
    connector = open_connector(url, datamap.connection, credentials)
    try:
        problems = connector.check(datamap)
    finally:
        connector.close()
    return list(datamap.datasets), problems


def add_system(
    tenant_slug: str,
    name: str,
    url: str,
    map_text: str | None,
    actor: str = "admin",
    replace: bool = False,
    credentials: dict[str, str] | None = None,
) -> SystemView:
    if not name.strip() or len(name) > 100:
        raise InvalidInput("a system needs a name of 1 to 100 characters")
    url, secrets = split_password(url, dict(credentials or {}))
    scanned: list[str] = []
    if map_text is None:  # no map given: scan the system and use the draft
        view = scan_url(name, url, secrets)
        map_text, scanned = view.map_text, view.warnings
    map_text, warnings = ferry_map(name, map_text)
    warnings = list(dict.fromkeys([*scanned, *warnings]))  # the draft's own, said once
    datasets, problems = _check(url, map_text, secrets)
    if problems:
        raise InvalidInput(
            "the data map does not match the system: " + "; ".join(problems), code="map_mismatch"
        )
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        existing = systems.find(session, tenant.id, name)
        if existing and not replace:
            raise Conflict(
                f"system {name!r} already exists for {tenant_slug}", code="system_exists"
            )
        sealed = seal(get_settings().secret(), secrets) if secrets else None
        if existing:
            existing.url, existing.datamap, existing.credentials = url, map_text, sealed
        else:
            session.add(
                System(
                    tenant_id=tenant.id, name=name, url=url, datamap=map_text, credentials=sealed
                )
            )
        record(
            session,
            tenant.id,
            actor,
            "system.added",
            data={
                "system": name,
                "datasets": datasets,
                "replaced": bool(existing),
                "credentials": sorted(secrets),  # names only, never values
            },
        )
    return SystemView(name, datasets, [], warnings)


def test_system(tenant_slug: str, name: str) -> SystemView:
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        system = systems.get(session, tenant.id, name)
        url, map_text = system.url, system.datamap
        secrets = unseal(get_settings().secret(), system.credentials)
    try:
        datasets, problems = _check(url, map_text, secrets)
    except Exception as exc:  # report any failure of the client's system as a problem
        return SystemView(name, [], [f"{type(exc).__name__}: {exc}"])
    return SystemView(name, datasets, problems)
