"""Bulk runs settle requests in batches: one transaction per chunk, all audit events appended
under one lock of the chain head. The chain must verify, every request must end where a
one-by-one run would leave it, and a chunk whose transaction fails is settled one by one."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.db import unit_of_work
from ferry.domain.models import Identity
from ferry.services import audit, bulk, gather, requests, systems, tenants, verification
from ferry.store.tables import AuditEvent, Tenant
from tests.conftest import Outbox

MAP = """
system: legacy
datasets:
  people:
    primary_key: id
    identities: {email: email}
    fields:
      id: user.unique_id
      email: {category: user.contact.email, provenance: provided}
"""

EMAILS = [f"p{i}@example.com" for i in range(7)]


def _setup(folder: Path) -> list[str]:
    folder.mkdir()
    rows = "".join(f"{i},{e}\n" for i, e in enumerate(EMAILS))
    (folder / "people.csv").write_text("id,email\n" + rows)
    tenants.create_tenant("t", "T Ltd", ["GB"])
    systems.add_system("t", "legacy", str(folder), MAP)
    ids = []
    for e in EMAILS:
        view = requests.submit("t", "access", [Identity.parse("email", e)], channel="cli")
        verification.attest(view.id, "agent", "called back")
        ids.append(view.id)
    return ids


def _actions(request_id: str) -> list[str]:
    with unit_of_work() as session:
        query = sa.select(AuditEvent.action).where(AuditEvent.request_id == request_id)
        return list(session.scalars(query.order_by(AuditEvent.seq)))


def test_chunks_settle_every_request_and_the_chain_verifies(
    ferry_env_any: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outbox: Outbox
) -> None:
    ids = _setup(tmp_path / "legacy")
    monkeypatch.setattr(bulk, "CHUNK", 3)  # 7 requests: chunks of 3, 3 and 1
    result = bulk.run_all("t", "agent")
    assert sorted(result.completed) == sorted(ids) and result.failed == {}
    for rid in ids:
        assert requests.show(rid, with_events=False).state == "ready"
        assert _actions(rid)[-4:] == [
            "request.collecting",
            "package.created",
            "request.ready",
            "notice.sent",
        ]
    for e in EMAILS:  # the code, then the ready notice
        assert [m["Subject"] for m in outbox.to(e)][-1] == "Your data from T Ltd is ready"
    report = audit.verify_tenant("t")
    assert report.ok, report.problem
    with unit_of_work() as session:
        head = session.scalars(sa.select(Tenant).where(Tenant.slug == "t")).one()
        assert report.events == head.audit_seq


def test_a_failing_chunk_is_settled_one_by_one(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _setup(tmp_path / "legacy")
    real = bulk.finish_in
    calls = Counter[str]()

    def flaky(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second request of the first chunk
            raise RuntimeError("the database went away")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "finish_in", flaky)
    result = bulk.run_all("t", "agent")
    assert sorted(result.completed) == sorted(ids) and result.failed == {}
    for rid in ids:  # the rolled-back chunk left nothing behind: one package event each
        assert _actions(rid).count("package.created") == 1
        assert requests.show(rid, with_events=False).state == "ready"
    assert audit.verify_tenant("t").ok


def test_one_poisoned_request_fails_alone_and_the_chunk_is_settled(
    ferry_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request whose settlement fails every time (its report cannot be saved): the chunk's
    transaction fails (logged, with the error), then that request alone is failed with the
    reason; the requests before and after it in the chunk are settled."""
    ids = _setup(tmp_path / "legacy")
    poisoned = ids[2]
    real = gather.save_report

    def save_report(session: object, request_id: str, outcomes: object) -> None:
        if request_id == poisoned:
            raise ValueError("report too strange to store")
        real(session, request_id, outcomes)  # type: ignore[arg-type]

    monkeypatch.setattr(gather, "save_report", save_report)
    with caplog.at_level(logging.ERROR, logger="ferry.bulk"):
        result = bulk.run_all("t", "agent")
    assert sorted(result.completed) == sorted(i for i in ids if i != poisoned)
    assert list(result.failed) == [poisoned]
    assert "report too strange to store" in result.failed[poisoned]
    shown = requests.show(poisoned, with_events=False)
    assert shown.state == "failed" and "report too strange to store" in str(shown.failure)
    for rid in ids:
        if rid != poisoned:
            assert requests.show(rid, with_events=False).state == "ready"
            assert _actions(rid).count("package.created") == 1
    [chunk, alone] = [r for r in caplog.records if r.exc_info]
    assert "settling 7 bulk requests in one transaction failed" in chunk.getMessage()
    assert poisoned in alone.getMessage()
    assert all("report too strange" in str(r.exc_info[1]) for r in (chunk, alone) if r.exc_info)
    assert audit.verify_tenant("t").ok


def test_tampering_after_a_bulk_run_is_still_detected(ferry_env: Path, tmp_path: Path) -> None:
    _setup(tmp_path / "legacy")
    bulk.run_all("t", "agent")
    assert audit.verify_tenant("t").ok
    with unit_of_work() as session:
        last = session.scalars(sa.select(sa.func.max(AuditEvent.seq))).one()
        middle = last // 2
        actor = session.scalars(sa.select(AuditEvent.actor).where(AuditEvent.seq == middle)).one()
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.seq == middle).values(actor="someone else")
        )
    report = audit.verify_tenant("t")
    assert not report.ok and report.broken_at == middle
    with unit_of_work() as session:  # put it back; then cut the tail
        session.execute(sa.update(AuditEvent).where(AuditEvent.seq == middle).values(actor=actor))
    assert audit.verify_tenant("t").ok
    with unit_of_work() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seq > last - 3))
    report = audit.verify_tenant("t")
    assert not report.ok and "deleted from the end" in str(report.problem)
