"""A worker that dies mid-collection leaves its requests ``collecting``: once their lease runs
out, the sweep fails them (the agent is told once), and running them again finishes them. A
run that is alive renews its lease; requests waiting for a manual upload hold none and are left
alone; a request another run holds is not started twice."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict
from ferry.domain.models import Identity
from ferry.services import (
    bulk,
    clock,
    collection,
    jobs,
    leases,
    packages,
    requests,
    stalled,
    sweep,
    systems,
    tenants,
    verification,
)
from ferry.settings import Settings, get_settings, reset_settings
from ferry.store.tables import AuditEvent, Package, Request
from tests.conftest import Outbox
from tests.e2e.test_manual_upload import FILES_MAP as MAP
from tests.e2e.test_manual_upload import MANUAL_MAP

AGENT = "agents@example.com"
LATER = timedelta(minutes=11)  # past a lease (ten minutes by default)


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


def _lease(request_id: str) -> object:
    with unit_of_work() as session:
        return session.get_one(Request, request_id).lease_until


def test_stalled_requests_are_failed_the_agent_told_once_and_they_finish_when_run_again(
    ferry_env_any: Path, tmp_path: Path
) -> None:
    _tenant(tmp_path / "legacy")
    rids = [_collecting(e) for e in ("ann@example.com", "bob@example.com")]

    assert stalled.reclaim() == []  # leases still running
    assert sorted(stalled.reclaim(now=utcnow() + LATER)) == sorted(rids)

    shown = requests.show(rids[0])
    assert shown.state == "failed"
    assert shown.failure is not None and "stopped renewing its lease" in shown.failure
    assert "ferry request run --all t" in shown.failure
    assert "request.failed" in _actions(rids[0])
    assert _lease(rids[0]) is None
    [notice] = Outbox(ferry_env_any).to(AGENT)  # one summary for the tenant
    assert notice["Subject"] == "2 collection(s) stopped for T Ltd"
    body = notice.get_payload(decode=True)
    assert isinstance(body, bytes) and all(r.encode() in body for r in rids)
    assert stalled.reclaim(now=utcnow() + LATER) == []  # failed once, not again

    assert collection.run(rids[0], "agent").state == "ready"


def test_a_live_run_renews_its_lease(ferry_env: Path, tmp_path: Path) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    first = _lease(rid)
    with leases.kept([rid], every=0.05):
        deadline = time.monotonic() + 10
        while _lease(rid) == first and time.monotonic() < deadline:
            time.sleep(0.05)
    renewed = _lease(rid)
    assert isinstance(first, datetime) and isinstance(renewed, datetime) and renewed > first


def test_a_request_another_run_holds_is_not_started_twice(ferry_env: Path, tmp_path: Path) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    with pytest.raises(Conflict, match="being collected by another run") as refused:
        collection.run(rid, "agent")
    assert refused.value.code == "collecting_elsewhere"
    with unit_of_work() as session:  # that run died: its lease ran out
        session.get_one(Request, rid).lease_until = utcnow() - timedelta(seconds=1)
    assert collection.run(rid, "agent").state == "ready"


def test_request_waiting_for_an_upload_holds_no_lease(ferry_env: Path, tmp_path: Path) -> None:
    _tenant(tmp_path / "legacy", manual=True)
    rid = _collecting("ann@example.com")
    assert collection.execute(rid, "worker").state == "collecting"  # waits for the owner
    assert _lease(rid) is None
    assert stalled.reclaim(now=utcnow() + timedelta(days=30)) == []
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
    for email in ("ann@example.com", "bob@example.com"):
        view = requests.submit("t", "access", [Identity.parse("email", email)], channel="cli")
        verification.attest(view.id, "agent", "called back")
    real = bulk.gather.Collection.run

    def run_then_stall(engine: object) -> object:  # the sweep lands while the batch runs
        done = real(engine)  # type: ignore[arg-type]
        assert stalled.reclaim(now=utcnow() + LATER)
        return done

    monkeypatch.setattr(bulk.gather.Collection, "run", run_then_stall)
    result = bulk.run_all("t", "worker")
    assert result.completed == [] and len(result.failed) == 2
    assert {requests.show(r).state for r in result.failed} == {"failed"}
    assert "settling" not in caplog.text  # skipped in the chunk, no fallback needed


def test_the_sweep_fails_stalled_requests_then_collects_the_verified(
    ferry_env: Path, tmp_path: Path
) -> None:
    _tenant(tmp_path / "legacy")
    stuck = _collecting("ann@example.com")
    fresh = requests.submit("t", "access", [Identity.parse("email", "bob@example.com")]).id
    verification.attest(fresh, "agent", "called back")
    with unit_of_work() as session:
        session.get_one(Request, stuck).lease_until = utcnow() - timedelta(seconds=1)

    assert sweep.collect_pending() == {"t": 1}
    assert requests.show(stuck).state == "failed"
    assert requests.show(fresh).state == "ready"


def test_zero_turns_leases_off_and_a_negative_length_is_refused(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRY_COLLECT_LEASE_S", "0")
    reset_settings()
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    assert _lease(rid) is None
    assert stalled.reclaim(now=utcnow() + timedelta(days=30)) == []
    assert requests.show(rid).state == "collecting"
    for bad in ("-5", "ten minutes"):
        monkeypatch.setenv("FERRY_COLLECT_LEASE_S", bad)
        with pytest.raises(ValueError, match="collect_lease_s"):
            Settings()


def test_a_request_paused_while_collecting_is_collected_again_when_resumed(
    ferry_env: Path, tmp_path: Path
) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")  # its run is going (or died) when the agent pauses
    clock.pause(rid, "agent", "clarification", "which account?")
    assert _lease(rid) is None  # nobody works on a paused request
    clock.resume(rid, "agent")
    jobs.shutdown()  # the collect job queued at the resume's commit, run in-process
    assert requests.show(rid).state == "ready"
    assert "collection.restarted" not in _actions(rid)  # resumed, not restarted by hand


def _package_folder(request_id: str) -> Path:
    return get_settings().packages_dir / "t" / request_id


def test_a_run_whose_request_moved_on_meanwhile_leaves_no_files(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    real = collection._collect_and_package

    def collect_then_stall(request_id: str) -> object:  # built aside, then the sweep lands
        done = real(request_id)
        assert stalled.reclaim(now=utcnow() + LATER) == [rid]
        return done

    monkeypatch.setattr(collection, "_collect_and_package", collect_then_stall)
    assert collection.execute(rid, "worker").state == "failed"
    assert not _package_folder(rid).exists() or list(_package_folder(rid).iterdir()) == []


def test_a_kept_package_is_moved_into_place_and_downloads(ferry_env: Path, tmp_path: Path) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")
    with unit_of_work() as session:  # its first run died: its lease ran out
        session.get_one(Request, rid).lease_until = utcnow() - timedelta(seconds=1)
    view = collection.run(rid, "agent")
    assert view.state == "ready" and view.package is not None
    folder = _package_folder(rid)
    assert sorted(p.name for p in folder.iterdir()) == ["package.zip.enc"]  # no build left aside
    with unit_of_work() as session:
        stored = session.scalars(sa.select(Package).where(Package.request_id == rid)).one()
    assert Path(stored.path) == folder / "package.zip.enc"
    out = packages.fetch(rid, tmp_path / "p.zip", "test")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == stored.sha256


def test_a_sweep_with_nothing_stalled_locks_no_tenant(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenant(tmp_path / "legacy")
    rid = _collecting("ann@example.com")  # its lease still runs

    def refuse(*_a: object) -> None:
        raise AssertionError("a tenant's chain was locked with nothing to reclaim")

    monkeypatch.setattr(stalled, "lock_chain", refuse)
    assert stalled.reclaim() == []
    assert requests.show(rid).state == "collecting"
