"""A worker that dies mid-collection leaves its requests ``collecting``: the sweep fails them as
stalled (the agent is told), and running them again finishes them; requests waiting for a
manual upload, or still within the threshold, are left alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.models import Identity
from ferry.services import (
    bulk,
    collection,
    requests,
    stalled,
    sweep,
    systems,
    tenants,
    verification,
)
from ferry.settings import Settings, reset_settings
from ferry.store.tables import AuditEvent, Request
from tests.conftest import Outbox
from tests.e2e.test_manual_upload import FILES_MAP as MAP
from tests.e2e.test_manual_upload import MANUAL_MAP

AGENT = "agents@example.com"
LATER = timedelta(hours=3)  # past the default threshold of two hours


def _tenant(folder: Path, *, manual: bool = False) -> None:
    folder.mkdir()
    (folder / "people.csv").write_text("id,email\n1,ann@example.com\n2,bob@example.com\n")
    tenants.create_tenant("t", "T Ltd", ["GB"], agent_email=AGENT)
    systems.add_system("t", "legacy", str(folder), MAP)
    if manual:
        systems.add_system("t", "paper", "manual://owner@example.com", MANUAL_MAP)


def _collecting(email: str) -> str:
    """A request whose worker died: moved to collecting, never run."""
    view = requests.submit("t", "access", [Identity.parse("email", email)], channel="cli")
    verification.attest(view.id, "agent", "called back")
    collection.start(view.id, "worker")
    return view.id


def _actions(request_id: str) -> list[str]:
    with unit_of_work() as session:
        query = sa.select(AuditEvent.action).where(AuditEvent.request_id == request_id)
        return list(session.scalars(query))


def test_stalled_request_is_failed_told_and_finishes_when_run_again(
    ferry_env_any: Path, tmp_path: Path
) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")

    assert stalled.reclaim() == []  # just started: not stalled
    assert stalled.reclaim(now=utcnow() + LATER) == [rid]

    shown = requests.show(rid)
    assert shown.state == "failed"
    assert shown.failure is not None and "no progress for over 120 minutes" in shown.failure
    assert "request.failed" in _actions(rid)
    [notice] = Outbox(ferry_env_any).to(AGENT)
    assert notice["Subject"] == "A collection stopped"
    assert stalled.reclaim(now=utcnow() + LATER) == []  # failed once, not again

    assert collection.run(rid, "agent").state == "ready"


def test_request_waiting_for_an_upload_is_not_stalled(ferry_env: Path, tmp_path: Path) -> None:
    _tenant(tmp_path / "legacy", manual=True)
    rid = _collecting("ann@example.com")
    assert collection.execute(rid, "worker").state == "collecting"  # waits for the owner
    assert stalled.reclaim(now=utcnow() + LATER) == []
    assert requests.show(rid).state == "collecting"


def test_a_late_worker_leaves_the_failed_request_as_it_is(ferry_env: Path, tmp_path: Path) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    assert stalled.reclaim(now=utcnow() + LATER) == [rid]
    view = collection.execute(rid, "worker")  # the "dead" worker was only slow
    assert view.state == "failed" and view.package is None  # the agent runs it again
    assert collection.run(rid, "agent").state == "ready"


def test_a_bulk_batch_leaves_a_request_failed_as_stalled_meanwhile(
    ferry_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _tenant(tmp_path / "legacy")
    rids = [_collecting(e) for e in ("ann@example.com", "bob@example.com")]
    with unit_of_work() as session:  # back to verified, as a sweep would find them
        for rid in rids:
            session.get_one(Request, rid).state = "verified"
    real = bulk.gather.Collection.run

    def run_then_stall(engine: object) -> object:  # the reclaim lands while the batch runs
        done = real(engine)  # type: ignore[arg-type]
        stalled.reclaim(now=utcnow() + LATER)
        return done

    monkeypatch.setattr(bulk.gather.Collection, "run", run_then_stall)
    result = bulk.run_all("t", "worker")
    assert result.completed == [] and set(result.failed) == set(rids)
    assert {requests.show(r).state for r in rids} == {"failed"}
    assert "settling" not in caplog.text  # skipped in the chunk, no fallback needed


def test_the_sweep_fails_stalled_requests_then_collects_the_verified(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenant(tmp_path / "legacy")
    stuck = _collecting("ann@example.com")
    fresh = requests.submit("t", "access", [Identity.parse("email", "bob@example.com")]).id
    verification.attest(fresh, "agent", "called back")
    with unit_of_work() as session:
        session.get_one(Request, stuck).updated_at = utcnow() - timedelta(minutes=10)
    monkeypatch.setenv("FERRY_COLLECT_STALE_S", "300")
    reset_settings()

    assert sweep.collect_pending() == {"t": 1}
    assert requests.show(stuck).state == "failed"
    assert requests.show(fresh).state == "ready"


def test_zero_turns_it_off_and_a_negative_threshold_is_refused(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    monkeypatch.setenv("FERRY_COLLECT_STALE_S", "0")
    reset_settings()
    assert stalled.reclaim(now=utcnow() + timedelta(days=30)) == []
    assert requests.show(rid).state == "collecting"
    for bad in ("-5", "two hours"):
        monkeypatch.setenv("FERRY_COLLECT_STALE_S", bad)
        with pytest.raises(ValueError, match="collect_stale_s"):
            Settings()
