"""Submit and attest read their settings without flushing pending rows; what they read must still
be what an autoflushed read would have seen, and the chain must still hold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.errors import NotFound
from ferry.domain.models import Identity
from ferry.services import audit, requests, tenants, verification
from ferry.services.verify_policy import rules_for
from ferry.store import audit as store_audit
from ferry.store import clocks
from ferry.store.tables import AuditEvent, RequestClock, Tenant, TenantSla, VerificationPolicy


def _tenant_id() -> int:
    with unit_of_work() as session:
        return session.scalars(sa.select(Tenant.id).where(Tenant.slug == "t")).one()


def _statements(session: Session, read: Callable[[], object]) -> list[str]:
    """The SQL statements ``read`` sends (a flush included)."""
    sent: list[str] = []
    engine = session.get_bind()

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        read()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return sent


def test_pending_settings_are_seen(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    with unit_of_work() as session:
        assert clocks.sla_for(session, tid) is None
        session.add(TenantSla(tenant_id=tid, timezone="Europe/London"))
        found = clocks.sla_for(session, tid)  # not flushed yet: still found
        assert found is not None and found.timezone == "Europe/London"
        assert found in session.new  # found without flushing it
        session.add(
            VerificationPolicy(tenant_id=tid, kind="*", jurisdiction="*", rules={"methods": ["x"]})
        )
        assert rules_for(session, tid, "access", "GB").methods == ["x"]
    with unit_of_work() as session:
        stored = clocks.sla_for(session, tid)
        assert stored is not None and stored.timezone == "Europe/London"


def test_locked_clock_is_the_row_in_hand(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    view = requests.submit("t", "access", [Identity.parse("email", "a@example.org")])
    with unit_of_work() as session:
        first = clocks.clock_for(session, view.id, lock=True)
        assert first is not None
        first.paused_days = 3  # pending change: a second locked read must not lose it
        statements = _statements(session, lambda: clocks.clock_for(session, view.id, lock=True))
        assert statements == []  # no second read, so no autoflush of the pending change either
        assert first in session.dirty and clocks.clock_for(session, view.id, lock=True) is first
    with unit_of_work() as session:
        stored = session.get(RequestClock, view.id)
        assert stored is not None and stored.paused_days == 3


def test_lock_by_unknown_slug_is_not_found(ferry_env_any: Path) -> None:
    with unit_of_work() as session, pytest.raises(NotFound):
        store_audit.lock_chain_by_slug(session, "nobody")


def test_submit_and_attest_chain_verifies(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    ids = []
    for i in range(5):
        view = requests.submit("t", "access", [Identity.parse("email", f"p{i}@example.org")])
        verification.attest(view.id, "bench", "by phone, twice")
        ids.append(view.id)
    assert audit.verify_tenant("t").ok
    with unit_of_work() as session:
        actions = list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.request_id == ids[0])
                .order_by(AuditEvent.seq)
            )
        )
    assert actions[0] == "request.received"
    assert "request.awaiting_verification" in actions and actions[-1] == "request.verified"
    assert requests.show(ids[-1]).state == "verified"


def test_pending_events_are_read_in_their_transaction(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    with unit_of_work() as session:
        store_audit.append(session, tid, "agent", "first", "r1", {"n": 1})
        store_audit.append(session, tid, "agent", "second", "r1")
        seen = [e.action for e in audit.events_for(session, tid, "r1")]  # flushes, then reads
        assert seen == ["first", "second"]
        store_audit.append(session, tid, "agent", "third", "r1")
    with unit_of_work() as session:
        stored = [(e.seq, e.action, e.data) for e in audit.events_for(session, tid, "r1")]
    assert [a for _, a, _ in stored] == ["first", "second", "third"]
    assert stored[0][2] == {"n": 1} and [s for s, _, _ in stored] == sorted(s for s, _, _ in stored)
    assert audit.verify_tenant("t").ok


def test_events_are_written_even_without_a_flush(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    with unit_of_work() as session:
        store_audit.append(session, tid, "agent", "orphan", "r2")
        session.expire(session.get_one(Tenant, tid))  # the head's change is undone
    with unit_of_work() as session:
        assert [e.action for e in audit.events_for(session, tid, "r2")] == ["orphan"]
    report = audit.verify_tenant("t")
    assert not report.ok and "deleted from the end" in (report.problem or "")


def test_rows_by_key_read_as_session_get_does(ferry_env_any: Path) -> None:
    """``txn.by_key`` (a statement built once) finds what ``session.get`` finds: nothing for an
    unknown key, the row from the store, a row the session holds without reading again, and an
    expired row read afresh."""
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    with unit_of_work() as session:
        session.add(TenantSla(tenant_id=tid, timezone="Europe/London"))
    with unit_of_work() as session:
        assert clocks.sla_for(session, tid + 1) is None
        found = clocks.sla_for(session, tid)
        assert found is not None and found is session.get(TenantSla, tid)
        found.timezone = "Europe/Paris"  # pending: the row in hand, no read and no flush
        assert _statements(session, lambda: clocks.sla_for(session, tid)) == []
        assert clocks.sla_for(session, tid) is found and found.timezone == "Europe/Paris"
        session.flush()
        session.execute(
            sa.update(TenantSla).where(TenantSla.tenant_id == tid).values(timezone="Asia/Tokyo")
        )
        session.expire(found)
        assert _statements(session, lambda: clocks.sla_for(session, tid)) != []
        assert clocks.sla_for(session, tid) is found and found.timezone == "Asia/Tokyo"
