"""The store and the audit chain on SQLite and PostgreSQL: tampering is found and located."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ferry.db import get_engine
from ferry.domain.models import Identity
from ferry.services import audit, requests, tenants, verification
from ferry.settings import get_settings


def _setup() -> str:
    tenants.create_tenant("acme", "Acme", ["EU-FR"])
    tenants.create_tenant("globex", "Globex", ["US-CA"])
    view = requests.submit("acme", "access", [Identity.parse("email", "ana@example.org")])
    requests.submit("globex", "device", [Identity.parse("phone", "+1 555 0100")])
    verification.attest(view.id, "agent-7", "checked the order number by phone")
    return view.id


def test_chain_is_per_tenant_and_intact(ferry_env_any: Path) -> None:
    rid = _setup()
    acme, globex = audit.verify_tenant("acme"), audit.verify_tenant("globex")
    assert acme.ok and globex.ok
    assert acme.events == 6 and globex.events == 4
    shown = requests.show(rid)
    assert [e["action"] for e in shown.events][-1] == "request.verified"
    assert shown.events[-1]["data"]["note"] == "checked the order number by phone"
    assert shown.events[-1]["actor"] == "agent:agent-7"


def test_edited_row_is_reported_with_its_number(ferry_env_any: Path) -> None:
    _setup()
    engine = get_engine(get_settings().db_url)
    with engine.begin() as conn:
        tid = conn.execute(sa.text("select id from tenants where slug='acme'")).scalar_one()
        conn.execute(
            sa.text("update audit_events set actor='nobody' where tenant_id=:t and seq=3"),
            {"t": tid},
        )
    report = audit.verify_tenant("acme")
    assert not report.ok and report.broken_at == 3
    assert "#3" in (report.problem or "")
    assert audit.verify_tenant("globex").ok


def test_deleted_tail_is_reported(ferry_env_any: Path) -> None:
    _setup()
    engine = get_engine(get_settings().db_url)
    with engine.begin() as conn:
        tid = conn.execute(sa.text("select id from tenants where slug='acme'")).scalar_one()
        conn.execute(sa.text("delete from audit_events where tenant_id=:t and seq=6"), {"t": tid})
    report = audit.verify_tenant("acme")
    assert not report.ok and report.broken_at == 6 and "deleted" in (report.problem or "")


def test_requests_are_tenant_scoped(ferry_env_any: Path) -> None:
    rid = _setup()
    acme_id = tenants.authenticate(tenants.create_api_key("acme", "k")).tenant_id
    globex_id = tenants.authenticate(tenants.create_api_key("globex", "k")).tenant_id
    assert requests.show(rid, acme_id).id == rid
    try:
        requests.show(rid, globex_id)
    except Exception as exc:
        assert getattr(exc, "code", "") == "request_not_found"
    else:
        raise AssertionError("globex saw acme's request")
    assert [v.id for v in requests.list_requests("acme")] == [rid]
    assert len(requests.list_requests("globex")) == 1
