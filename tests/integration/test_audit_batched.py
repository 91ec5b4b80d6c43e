"""Audit appends within one transaction: the chain head is locked and read once, and what is
hashed is what is stored, whatever the caller does with its dict afterwards."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ferry.db import unit_of_work
from ferry.services import audit, tenants
from ferry.store import audit as store_audit
from ferry.store import txn
from ferry.store.tables import AuditEvent, Tenant


def _tenant_id() -> int:
    with unit_of_work() as session:
        return session.scalars(sa.select(Tenant.id).where(Tenant.slug == "t")).one()


def test_memo_lasts_one_transaction(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    with unit_of_work() as session:
        session.execute(sa.select(1))
        txn.memo(session)["k"] = 1
        assert txn.memo(session)["k"] == 1
        session.commit()
        session.execute(sa.select(1))
        assert "k" not in txn.memo(session)  # a new transaction starts empty


def test_many_appends_in_one_transaction_chain(ferry_env_any: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    data: dict[str, object] = {"n": 0, "nested": {"x": [1]}}
    with unit_of_work() as session:
        for n in range(50):
            data["n"] = n
            store_audit.append(session, tid, "agent", "test.event", None, data)
            data["nested"]["x"].append(n)  # type: ignore[index]  # after hashing: must not leak
    with unit_of_work() as session:  # and across transactions, the head carries on
        store_audit.append(session, tid, "agent", "test.after")
    report = audit.verify_tenant("t")
    assert report.ok, report.problem
    with unit_of_work() as session:
        rows = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "test.event"))
        stored = [(e.data["n"], e.data["nested"]["x"]) for e in rows]
    assert stored[0] == (0, [1]) and stored[-1][0] == 49 and len(stored) == 50


def test_rolled_back_savepoint_leaves_no_gap(ferry_env: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    with unit_of_work() as session:
        store_audit.append(session, tid, "agent", "kept.one")
        nested = session.begin_nested()
        store_audit.append(session, tid, "agent", "rolled.back")
        nested.rollback()
        store_audit.append(session, tid, "agent", "kept.two")
    report = audit.verify_tenant("t")
    assert report.ok, report.problem
    with unit_of_work() as session:
        actions = list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert "rolled.back" not in actions and actions[-2:] == ["kept.one", "kept.two"]


def test_rolled_back_transaction_reads_the_head_again(ferry_env: Path) -> None:
    tenants.create_tenant("t", "T Ltd", ["GB"])
    tid = _tenant_id()
    with unit_of_work() as s:
        store_audit.append(s, tid, "agent", "one")
        s.rollback()  # the lock and the head in hand go with the transaction
        store_audit.append(s, tid, "agent", "two")
    report = audit.verify_tenant("t")
    assert report.ok, report.problem
    with unit_of_work() as s:
        actions = list(s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert "one" not in actions and actions[-1] == "two"
