"""The demo: tenant ``acme`` with a generated online-shop database registered as a system."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ferry.db import unit_of_work
from ferry.demo.estate import build_demo_shop
from ferry.services import packaging, systems, tenants
from ferry.settings import get_settings
from ferry.store import tenants as tenant_store
from ferry.store.migrate import upgrade

SLUG = "acme"


@dataclass(frozen=True)
class DemoSetup:
    tenant: str
    api_key: str
    admin_key: str
    sample_emails: list[str]
    portal_url: str
    outbox: str
    database: str


def _agent_names(path: Path) -> list[str]:
    """The support agents' names: other people, redacted from ticket texts."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        return [str(row[0]) for row in con.execute("select name from agents")]


def seed(customers: int = 3000) -> DemoSetup:
    """Idempotent: reuse what exists, create what is missing; fresh API keys each time."""
    settings = get_settings()
    upgrade()
    path = (settings.var_dir / "demo" / "acme-shop.db").resolve()
    info = build_demo_shop(path, customers=customers)
    url = f"sqlite:///{path.as_posix()}"
    with unit_of_work() as session:
        exists = tenant_store.find_by_slug(session, SLUG) is not None
    if not exists:
        tenants.create_tenant(
            SLUG,
            "Acme Retail Ltd",
            ["EU-DE", "GB", "US-CA"],
            agent_email="privacy-team@acme.example",
            actor="demo",
        )
    map_text = resources.files("ferry.demo").joinpath("shop-map.yaml").read_text("utf-8")
    systems.add_system(SLUG, "shop", url, map_text, actor="demo", replace=True)
    packaging.set_known_people(SLUG, _agent_names(path), actor="demo")
    return DemoSetup(
        tenant=SLUG,
        api_key=tenants.create_api_key(SLUG, "demo", actor="demo", role="supervisor"),
        admin_key=tenants.create_api_key(None, "demo-admin", actor="demo"),
        sample_emails=list(info.sample_emails),
        portal_url=f"{settings.public_url.rstrip('/')}/p/{SLUG}/",
        outbox=str(settings.outbox_dir.resolve()),
        database=str(path),
    )
