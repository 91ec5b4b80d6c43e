"""``ferry system scan``: draft a data map from a system's schema and sampled values."""

from __future__ import annotations

from dataclasses import dataclass

from ferry.collect.datamap import load_datamap
from ferry.collect.fides import to_yaml
from ferry.collect.scan import draft, unreachable_warnings
from ferry.connectors.base import ConnectorError, Describable
from ferry.connectors.registry import open_connector
from ferry.crypto.secretbox import unseal
from ferry.db import unit_of_work
from ferry.domain.errors import InvalidInput
from ferry.settings import get_settings
from ferry.store import systems, tenants

HEADER = (
    "# Draft data map made by `ferry system scan` from the schema and sampled values.\n"
    "# Review it: categories and identities are guesses; nothing here was checked by a person.\n"
)


@dataclass(frozen=True)
class ScanView:
    system: str
    map_text: str
    datasets: list[str]
    warnings: list[str]


def scan_url(name: str, url: str, credentials: dict[str, str] | None = None) -> ScanView:
    """Introspect the system at ``url`` and draft its map."""
    connector = open_connector(url, {}, credentials)
    try:
        if not isinstance(connector, Describable):
            raise InvalidInput(
                f"systems at {url.split('://')[0]}:// cannot be scanned; write their map by hand "
                "(see docs/data-map.md)"
            )
        tables = connector.describe()
    except ConnectorError as err:
        raise InvalidInput(f"cannot scan {name!r}: {err.message}") from None
    finally:
        connector.close()
    if not tables:
        raise InvalidInput(f"system {name!r} has no tables or files to scan")
    found = draft(name, tables)
    datamap = load_datamap(to_yaml(found.datamap()))
    warnings = [*found.warnings, *unreachable_warnings(datamap)]
    return ScanView(name, HEADER + to_yaml(datamap), list(datamap.datasets), warnings)


def scan_system(tenant_slug: str, name: str, url: str | None = None) -> ScanView:
    """Scan a registered system (or ``url``, for one not added yet)."""
    credentials: dict[str, str] = {}
    if url is None:
        with unit_of_work() as session:
            tenant = tenants.get_by_slug(session, tenant_slug)
            system = systems.get(session, tenant.id, name)
            url = system.url
            credentials = unseal(get_settings().secret(), system.credentials)
    return scan_url(name, url, credentials)
