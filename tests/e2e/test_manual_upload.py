"""Manual systems: the owner's upload task, the one-time link, the request waiting, then ready."""

from __future__ import annotations

import json
import re
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ferry.app import create_app
from ferry.cli.main import app as cli
from ferry.db import unit_of_work
from ferry.domain.errors import FerryError
from ferry.domain.models import Identity, RequestState
from ferry.services import (
    bulk,
    collection,
    gather,
    jobs,
    manual,
    packages,
    rejection,
    requests,
    retention,
    scheduler,
    systems,
    tenants,
    verification,
)
from ferry.services.lifecycle import move
from ferry.settings import get_settings
from ferry.store.tables import AuditEvent, ManualTask, Package, Request
from tests.conftest import Outbox

FILES_MAP = """
system: legacy
datasets:
  people:
    primary_key: id
    identities: {email: email}
    fields: {id: user.unique_id, email: user.contact.email}
"""

MANUAL_MAP = """
system: paper
connection: {due_days: 5}
datasets:
  claims:
    primary_key: id
    identities: {email: email}
    fields: {id: user.unique_id, email: user.contact.email, amount: user.financial}
"""

OWNER = "owner@example.com"
AGENT = "agents@example.com"


def _setup(folder: Path) -> None:
    folder.mkdir()
    (folder / "people.csv").write_text("id,email\n1,ann@example.com\n2,bob@example.com\n")
    tenants.create_tenant("t", "T Ltd", ["GB"], agent_email=AGENT)
    systems.add_system("t", "legacy", str(folder), FILES_MAP)
    systems.add_system("t", "paper", f"manual://{OWNER}", MANUAL_MAP)


def _request(email: str) -> str:
    view = requests.submit("t", "access", [Identity.parse("email", email)], channel="cli")
    verification.attest(view.id, "agent", "called back")
    return view.id


def _links(outbox: Outbox) -> list[str]:
    found = []
    for msg in outbox.to(OWNER):
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes)
        found += re.findall(r"/u/([A-Za-z0-9_-]+)", body.decode())
    return found


def _package(request_id: str) -> dict[str, list[dict[str, object]]]:
    path = packages.fetch(request_id, get_settings().var_dir / f"{request_id}.zip", "test")
    with zipfile.ZipFile(path) as zf:
        return {
            n.removeprefix("data/").removesuffix(".json"): json.loads(zf.read(n))["rows"]
            for n in zf.namelist()
            if n.endswith(".json") and n.count("/") == 2
        }


def _actions(request_id: str) -> list[str]:
    with unit_of_work() as session:
        query = sa.select(AuditEvent.action).where(AuditEvent.request_id == request_id)
        return list(session.scalars(query))


def _events(request_id: str, action: str) -> list[dict[str, object]]:
    with unit_of_work() as session:
        query = sa.select(AuditEvent.data).where(
            AuditEvent.request_id == request_id, AuditEvent.action == action
        )
        return [dict(d) for d in session.scalars(query)]


def _broken_system(folder: Path) -> None:
    """A file system that fails when collected (its folder is gone), without retries."""
    folder.mkdir()
    (folder / "people.csv").write_text("id,email\n1,ann@example.com\n")
    systems.add_system("t", "down", str(folder), FILES_MAP + "collection: {retries: 0}\n")
    (folder / "people.csv").unlink()
    folder.rmdir()


def _claim(request_id: str) -> bytes:
    with unit_of_work() as session:
        email = session.get_one(Request, request_id).identities[0].value
    return f"id,email,amount\n7,{email},1\n".encode()


def _first_links(outbox: Outbox, request_ids: list[str]) -> list[str]:
    """Run each request once (each sends its link), the links in the order of the requests."""
    for rid in request_ids:
        collection.run(rid, "agent")
    return _links(outbox)


def _post(client: TestClient, token: str, name: str, data: bytes, dataset: str = "claims"):  # type: ignore[no-untyped-def]
    answer = client.post(
        f"/u/{token}",
        data={"dataset": dataset},
        files={"file": (name, data, "text/csv")},
        headers={"Accept": "application/json"},
    )
    jobs.shutdown()  # the collection a last upload queued (in-process, no broker) has ended
    return answer


def test_request_waits_for_the_upload_then_is_packaged(ferry_env_any: Path, tmp_path: Path) -> None:
    outbox = Outbox(ferry_env_any)
    _setup(tmp_path / "legacy")
    rid = _request("ann@example.com")
    view = collection.run(rid, "agent")
    # waiting is not failing: the request stays collecting and shows what it waits for
    assert view.state == "collecting" and view.failure is None
    [waiting] = view.waiting_for
    assert (waiting["system"], waiting["owner"], waiting["state"]) == ("paper", OWNER, "pending")
    assert waiting["overdue"] is False
    report = {g.system: g.status for g in gather.show_report(rid)}
    assert report == {"legacy": "done", "paper": "waiting"}
    [token] = _links(outbox)
    tasks = manual.tasks(rid)
    assert [(t.system, t.owner, t.state) for t in tasks] == [("paper", OWNER, "pending")]
    assert waiting["due_date"] == tasks[0].due_date.isoformat()
    listed = CliRunner().invoke(cli, ["request", "tasks", rid])
    assert listed.exit_code == 0 and "paper" in listed.output and "pending" in listed.output
    shown = CliRunner().invoke(cli, ["request", "show", rid])
    assert shown.exit_code == 0 and "collecting" in shown.output
    assert f"waiting for upload: paper from {OWNER}, due {waiting['due_date']}" in shown.output
    table = CliRunner().invoke(cli, ["request", "list", "t", "--json"])
    [row] = [r for r in json.loads(table.output) if r["id"] == rid]
    assert row["state"] == "collecting" and row["waiting_for"] == [waiting]
    assert requests.show(rid).waiting_for == [waiting]
    clock = requests.show(rid).clock  # the client's own system: the statutory clock runs
    assert clock is not None and clock["paused"] is False and clock["paused_days"] == 0
    # running again before the upload neither sends a new link nor moves on
    assert collection.run(rid, "agent").state == "collecting" and len(_links(outbox)) == 1

    key = tenants.create_api_key("t", "agent-tool", role="agent")
    with TestClient(create_app()) as client:
        auth = {"Authorization": f"Bearer {key}"}
        api_view = client.get(f"/api/v1/requests/{rid}", headers=auth).json()
        assert api_view["state"] == "collecting" and api_view["waiting_for"] == [waiting]
        listed_api = client.get("/api/v1/tenants/t/requests", headers=auth).json()
        assert [r["waiting_for"] for r in listed_api if r["id"] == rid] == [[waiting]]
        page = client.get(f"/u/{token}")
        assert page.status_code == 200 and 'type="file"' in page.text and "claims" in page.text
        csv = b"id,email,amount\n7,ann@example.com,12.50\n8,ANN@example.com,3\n"
        done = _post(client, token, "claims.csv", csv)
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "uploaded" and done.json()["uploaded"] == {"claims": 2}
        again = _post(client, token, "claims.csv", csv)
        assert again.status_code == 410 and again.json()["error"] == "upload_link_gone"

        assert client.get(f"/api/v1/requests/{rid}", headers=auth).json()["waiting_for"] == []
    shown = requests.show(rid)
    assert shown.state == "ready" and shown.waiting_for == []  # continued on upload
    rows = _package(rid)
    assert {r["id"] for r in rows["paper/claims"]} == {"7", "8"}
    assert [r["id"] for r in rows["legacy/people"]] == ["1"]
    sealed = list((ferry_env_any / "manual").rglob("*.sealed"))
    assert len(sealed) == 1 and b"ann@example.com" not in sealed[0].read_bytes()
    with unit_of_work() as session:
        actions = session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.request_id == rid)
        ).all()
    for action in ("manual.task.created", "manual.uploaded", "manual.task.done"):
        assert action in actions


def test_hostile_uploads_are_refused_and_nothing_is_taken(
    ferry_env: Path, tmp_path: Path, monkeypatch: object
) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    ann, bob = _request("ann@example.com"), _request("bob@example.com")
    collection.run(ann, "agent")
    collection.run(bob, "agent")
    ann_token, bob_token = _links(outbox)
    cases = [
        ("claims.csv", b"id,email\n7,ann@example.com\n", 422, "upload_columns"),
        ("claims.csv", b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe", 422, "upload_unreadable"),
        ("claims.exe", b"id,email,amount\n7,ann@example.com,1\n", 422, "upload_format"),
        ("claims.csv", b"", 422, "upload_unreadable"),
        (
            "claims.jsonl",
            b'{"id": 1, "email": "ann@example.com", "amount": 1}\n{oops\n',
            422,
            "upload_unreadable",
        ),
        # bob's rows through ann's link: another person's records are not taken
        ("claims.csv", b"id,email,amount\n9,bob@example.com,5\n", 422, "upload_other_people"),
        ("claims.csv", b"id,email,amount\n9,ann@example.com,5\n", 404, "upload_link_unknown"),
    ]
    with TestClient(create_app()) as client:
        assert bob in client.get(f"/u/{bob_token}").text  # each link is its own request's
        assert bob not in client.get(f"/u/{ann_token}").text
        for i, (name, data, status, code) in enumerate(cases):
            token = "not-a-token" if code == "upload_link_unknown" else ann_token
            answer = _post(client, token, name, data)
            assert (answer.status_code, answer.json()["error"]) == (status, code), (i, answer.text)
        page = _post(client, ann_token, "claims.csv", b"id,email\n1,ann@example.com\n")
        assert "application/json" in page.headers["content-type"]
        html = client.post(
            f"/u/{ann_token}",
            data={"dataset": "claims"},
            files={"file": ("c.csv", b"id,email\n1,x@example.com\n", "text/csv")},
        )
        assert html.status_code == 422 and "does not match the data map" in html.text
        huge = b"id,email,amount\n" + b"7,ann@example.com,1\n" * 100
        monkeypatch.setattr(manual, "MAX_BYTES", 1000)  # type: ignore[attr-defined]
        big = _post(client, ann_token, "claims.csv", huge * 200)
        assert big.status_code == 413 and big.json()["error"] == "upload_too_large"
        monkeypatch.setattr(manual, "MAX_BYTES", len(huge) - 1)  # type: ignore[attr-defined]
        big = _post(client, ann_token, "claims.csv", huge)  # past the header check, not the read
        assert big.status_code == 422 and big.json()["error"] == "upload_too_large"
    assert not (ferry_env / "manual").exists()  # nothing refused was stored
    states = {t.request_id: t.state for r in (ann, bob) for t in manual.tasks(r)}
    assert states == {ann: "pending", bob: "pending"}
    assert requests.show(ann).state == "collecting"


def test_expired_link_is_refused_and_the_next_run_sends_a_new_one(
    ferry_env: Path, tmp_path: Path
) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    rid = _request("ann@example.com")
    collection.run(rid, "agent")
    [old] = _links(outbox)
    with unit_of_work() as session:
        task = session.scalars(sa.select(ManualTask)).one()
        task.expires_at = datetime(2000, 1, 1)
    tick = CliRunner().invoke(cli, ["sla", "tick"])
    assert tick.exit_code == 0 and f"{rid} paper" in tick.output
    assert [t.state for t in manual.tasks(rid)] == ["expired"]
    assert f"{rid} paper" not in CliRunner().invoke(cli, ["sla", "tick"]).output  # once
    # past its due date the system is a gap: the request fails, the agent decides
    shown = requests.show(rid)
    assert shown.state == "failed" and "'paper': the owner" in str(shown.failure)
    assert shown.waiting_for[0]["state"] == "expired" and shown.waiting_for[0]["overdue"]
    gaps = {g.system: (g.status, g.error) for g in gather.show_report(rid)}
    assert gaps["legacy"][0] == "done" and gaps["paper"][0] == "failed"
    assert f"did not upload by {shown.waiting_for[0]['due_date']}" in str(gaps["paper"][1])
    assert any("Upload overdue" in str(m["Subject"]) for m in outbox.to(AGENT))
    with TestClient(create_app()) as client:
        assert client.get(f"/u/{old}").status_code == 410
        gone = _post(client, old, "claims.csv", b"id,email,amount\n7,ann@example.com,1\n")
        assert gone.status_code == 410 and "expired" in gone.json()["message"]
        retry = collection.run(rid, "agent")  # the agent retries: a fresh link, waiting again
        assert retry.state == "collecting" and retry.waiting_for[0]["state"] == "pending"
        new = _links(outbox)[-1]
        assert new != old and client.get(f"/u/{old}").status_code == 404
        ok = _post(client, new, "claims.csv", b"id,email,amount\n7,ann@example.com,1\n")
        assert ok.status_code == 200
    assert requests.show(rid).state == "ready"


def test_partial_delivery_while_waiting_keeps_the_other_systems(
    ferry_env: Path, tmp_path: Path
) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    rid = _request("ann@example.com")
    assert collection.run(rid, "agent").state == "collecting"
    gaps = CliRunner().invoke(cli, ["request", "gaps", rid])
    assert gaps.exit_code == 0 and "waiting" in gaps.output
    view = bulk.deliver_partial(rid, "agent", "archive owner on leave")
    assert view.state == "ready"
    rows = _package(rid)
    assert [r["id"] for r in rows["legacy/people"]] == ["1"]
    assert [g["system"] for g in rows["ferry/gaps"]] == ["paper"]
    assert not (ferry_env / "work" / "t" / rid).exists()  # rows go once the package is built
    [token] = _links(outbox)
    with TestClient(create_app()) as client:  # the link still works; the request is not reopened
        ok = _post(client, token, "claims.csv", b"id,email,amount\n7,ann@example.com,1\n")
        assert ok.status_code == 200
    assert requests.show(rid).state == "ready"
    # the late upload is kept and the agent told the package went out without it
    [told] = [m for m in outbox.to(AGENT) if m["Subject"] == "Records uploaded"]
    body = told.get_payload(decode=True)
    assert isinstance(body, bytes) and b"built without 'paper'" in body
    assert "manual.uploaded_late" in _actions(rid)
    # the agent rebuilds the package before it goes out: now with the paper records
    rebuilt = collection.run(rid, "agent")
    assert rebuilt.state == "ready" and rebuilt.waiting_for == []
    rows = _package(rid)
    assert [r["id"] for r in rows["paper/claims"]] == ["7"] and "ferry/gaps" not in rows


@pytest.mark.parametrize("collected", [True, False], ids=["collection-done", "upload-only"])
def test_partial_delivery_refused_when_the_last_upload_overtakes_it(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collected: bool
) -> None:
    """The race: the agent delivers partially while the owner's last upload arrives (and, or
    not yet, its collection ends). Whichever ends second must not deliver a second package."""
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    rid = _request("ann@example.com")
    assert collection.run(rid, "agent").state == "collecting"
    [token] = _links(outbox)
    build = bulk._package

    def racing(*args: object, **kwargs: object) -> object:
        built = build(*args, **kwargs)  # type: ignore[arg-type]
        # between deliver-partial's two transactions: the last upload arrives
        assert manual.upload(token, "claims", "claims.csv", _claim(rid)).state == "uploaded"
        if collected:
            assert collection.run(rid, "manual-upload").state == "ready"
        return built

    monkeypatch.setattr(bulk, "_package", racing)
    with pytest.raises(FerryError) as refused:
        bulk.deliver_partial(rid, "agent", "archive owner on leave")
    assert refused.value.code == "request_moved_on" and refused.value.status == 409
    assert "nothing was delivered" in refused.value.message
    assert "collection.delivered_partial" not in _actions(rid)
    with unit_of_work() as session:
        count = session.scalar(sa.select(sa.func.count()).where(Package.request_id == rid))
    assert count == (1 if collected else 0)
    assert requests.show(rid).state == ("ready" if collected else "collecting")
    if collected:  # the package on disk is the full one its row describes, not the partial
        rows = _package(rid)
        assert [r["id"] for r in rows["paper/claims"]] == ["7"] and "ferry/gaps" not in rows
    else:  # the collection goes on with every system, from the rows still in place
        assert collection.run(rid, "manual-upload").state == "ready"
    assert not list((ferry_env / "packages" / "t" / rid).glob(".partial-*"))


def test_upload_after_delivery_or_withdrawal_is_refused_and_nothing_kept(
    ferry_env: Path, tmp_path: Path
) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    ann, bob = _request("ann@example.com"), _request("bob@example.com")
    collection.run(ann, "agent")
    collection.run(bob, "agent")
    ann_token, bob_token = _links(outbox)
    bulk.deliver_partial(ann, "agent", "owner unreachable")
    with unit_of_work() as session:  # the person downloaded the partial package
        req = session.get_one(Request, ann)
        move(session, req, RequestState.DELIVERED, "subject", {"via": "download"})
    requests.withdraw(bob, "subject", "changed my mind")
    csv = b"id,email,amount\n7,ann@example.com,1\n"
    with TestClient(create_app()) as client:
        late = _post(client, ann_token, "claims.csv", csv)
        assert late.status_code == 410 and late.json()["error"] == "upload_request_closed"
        assert "answered already" in late.json()["message"]
        for _ in range(4):  # a leaked link tried again and again: refused each time, quietly
            assert _post(client, ann_token, "claims.csv", csv).status_code == 410
        page = client.get(f"/u/{bob_token}")
        assert page.status_code == 410 and "withdrawn" in page.text
        gone = _post(client, bob_token, "claims.csv", b"id,email,amount\n9,bob@example.com,1\n")
        assert gone.status_code == 410 and gone.json()["error"] == "upload_request_closed"
    assert not list((ferry_env / "manual").rglob("*.sealed"))
    assert "manual.upload.refused" in _actions(ann) and "manual.upload.refused" in _actions(bob)
    assert _actions(ann).count("manual.upload.refused") == 1
    refused = [m for m in outbox.to(AGENT) if m["Subject"] == "Late upload refused"]
    assert len(refused) == 1  # only for the delivered request, once
    assert requests.show(ann).state == "delivered" and requests.show(bob).waiting_for == []
    with unit_of_work() as session:  # ann's link runs out after delivery: no alarm for it
        task = session.scalars(sa.select(ManualTask).where(ManualTask.request_id == ann)).one()
        task.expires_at = datetime(2000, 1, 1)
    assert manual.expire_overdue() == []
    assert [t.state for t in manual.tasks(ann)] == ["cancelled"]
    assert not [m for m in outbox.to(AGENT) if m["Subject"] == "Upload overdue"]


def test_withdraw_and_reject_purge_rows_and_uploads(ferry_env: Path, tmp_path: Path) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    ann, bob = _request("ann@example.com"), _request("bob@example.com")
    _broken_system(tmp_path / "down")
    with TestClient(create_app()) as client:
        for rid, token in zip((ann, bob), _first_links(outbox, [ann, bob]), strict=True):
            ok = _post(client, token, "claims.csv", _claim(rid))
            assert ok.status_code == 200, ok.text
    # the "down" system failed: the rows found elsewhere wait in var/work for a retry
    assert {requests.show(r).state for r in (ann, bob)} == {"failed"}
    # uploads finishing on a failed request do not retry it on their own: the agent is told
    told = [m for m in outbox.to(AGENT) if m["Subject"] == "Records uploaded"]
    assert len(told) == 2 and all(
        "`ferry request run ID` continues" in m.get_payload() for m in told
    )
    work = {r: ferry_env / "work" / "t" / r for r in (ann, bob)}
    assert all(any(w.rglob("*")) for w in work.values())
    assert len(list((ferry_env / "manual").rglob("*.sealed"))) == 2
    requests.withdraw(ann, "subject", "no longer needed")
    rejection.reject(bob, "agent", "identity could not be confirmed")
    for rid, state in ((ann, "withdrawn"), (bob, "rejected")):
        assert requests.show(rid).state == state
        assert not work[rid].exists()
        purged = _events(rid, "request.data_purged")
        assert purged == [
            {"reason": f"request {state}", "uploads": 1, "work_folder": True, "bulk_batch": False}
        ]
    assert not list((ferry_env / "manual").rglob("*.sealed"))
    assert {t.state for r in (ann, bob) for t in manual.tasks(r)} == {"uploaded"}


def test_bulk_run_collects_each_request_on_its_own(ferry_env: Path, tmp_path: Path) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    ann, bob = _request("ann@example.com"), _request("bob@example.com")
    result = bulk.run_all("t", "agent")
    assert result.completed == [] and result.failed == {} and set(result.waiting) == {ann, bob}
    summary = CliRunner().invoke(cli, ["request", "list", "t"], env={"COLUMNS": "300"})
    assert summary.exit_code == 0 and summary.output.count("paper upload due") == 2
    assert len(_links(outbox)) == 2
    assert {requests.show(r).state for r in (ann, bob)} == {"collecting"}
    cli_run = CliRunner().invoke(cli, ["request", "run", "--all", "t"])
    assert cli_run.exit_code == 0 and "0 packaged, 0 failed\n" in cli_run.output
    assert len(_links(outbox)) == 2  # waiting requests are left alone: no new links


def test_uploads_go_with_the_package_when_retention_ends(ferry_env: Path, tmp_path: Path) -> None:
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    ann, bob = _request("ann@example.com"), _request("bob@example.com")
    with TestClient(create_app()) as client:
        for rid, token in zip((ann, bob), _first_links(outbox, [ann, bob]), strict=True):
            assert _post(client, token, "claims.csv", _claim(rid)).status_code == 200
    assert {requests.show(r).state for r in (ann, bob)} == {"ready"}
    assert len(list((ferry_env / "manual").rglob("*.sealed"))) == 2
    with unit_of_work() as session:  # bob's package is recent: only ann's is past retention
        package = session.scalars(sa.select(Package).where(Package.request_id == ann)).one()
        package.created_at = datetime(2000, 1, 1)
    purged = retention.purge_expired("t")
    assert [p.request_id for p in purged] == [ann]
    left = list((ferry_env / "manual").rglob("*.sealed"))
    assert len(left) == 1 and bob in str(left[0])
    assert _events(ann, "manual.uploads.purged") == [
        {"files": 1, "reason": "the package's retention of 30 days is over"}
    ]
    assert _events(bob, "manual.uploads.purged") == []
    [task] = manual.tasks(ann)
    assert task.state == "uploaded" and task.uploaded == {"claims": 1}  # the record stays
    assert retention.purge_expired("t") == []  # once
    assert len(_events(ann, "manual.uploads.purged")) == 1


def test_the_serve_scheduler_turns_an_overdue_upload_into_a_gap(
    ferry_env: Path, tmp_path: Path
) -> None:
    _setup(tmp_path / "legacy")
    rid = _request("ann@example.com")
    assert collection.run(rid, "agent").state == "collecting"
    with unit_of_work() as session:
        session.scalars(sa.select(ManualTask)).one().expires_at = datetime(2000, 1, 1)
    ticker = scheduler.sla_ticker(3600).start()  # runs once at start, as `ferry serve` does
    try:
        deadline = time.monotonic() + 30
        while requests.show(rid).state == "collecting" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        ticker.stop()
    assert requests.show(rid).state == "failed"
    assert [t.state for t in manual.tasks(rid)] == ["expired"]

    # the worker's named job does the same (``ferry worker --beat`` schedules it)
    rid2 = _request("bob@example.com")
    assert collection.run(rid2, "agent").state == "collecting"
    with unit_of_work() as session:
        query = sa.select(ManualTask).where(ManualTask.request_id == rid2)
        session.scalars(query).one().expires_at = datetime(2000, 1, 1)
    jobs.run("sla-tick")
    assert requests.show(rid2).state == "failed"


def _packages(request_id: str) -> int:
    with unit_of_work() as session:
        query = sa.select(sa.func.count()).where(Package.request_id == request_id)
        return int(session.scalar(query) or 0)


def test_two_last_uploads_start_one_collection(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two manual systems, each owner's upload finishing the request's last tasks: only the
    upload that finds nothing else awaited queues the ``collect`` job; one package results."""
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    systems.add_system("t", "ledger", f"manual://{OWNER}", MANUAL_MAP.replace("paper", "ledger"))
    rid = _request("ann@example.com")
    assert collection.run(rid, "agent").state == "collecting"
    tokens = _links(outbox)
    assert len(tokens) == 2
    queued: list[tuple[str, ...]] = []
    real = jobs.enqueue
    monkeypatch.setattr(jobs, "enqueue", lambda *a: (queued.append(a), real(*a))[1])
    with TestClient(create_app()) as client:
        for token in tokens:
            assert _post(client, token, "claims.csv", _claim(rid)).status_code == 200
    assert queued == [("collect", rid, "manual-upload")]
    assert requests.show(rid).state == "ready" and _packages(rid) == 1
    # the same job delivered again (a broker's redelivery, a second continuation): no-op
    assert jobs.run("collect", rid, "manual-upload").state == "ready"  # type: ignore[attr-defined]
    assert requests.show(rid).state == "ready" and _packages(rid) == 1
    assert _actions(rid).count("package.created") == 1


def test_two_continuations_at_once_leave_one_package(
    ferry_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``collect`` jobs for one request running together (the second finishes while the
    first is collecting): the first's outcome is not recorded over the second's."""
    outbox = Outbox(ferry_env)
    _setup(tmp_path / "legacy")
    rid = _request("ann@example.com")
    assert collection.run(rid, "agent").state == "collecting"
    [token] = _links(outbox)
    assert manual.upload(token, "claims", "claims.csv", _claim(rid)).state == "uploaded"
    collect = collection._collect_and_package
    nested: list[str] = []

    def overtaken(request_id: str) -> object:
        found = collect(request_id)
        if not nested:  # meanwhile another worker runs the same job to the end
            nested.append("running")
            nested[0] = jobs.run("collect", request_id, "manual-upload").state  # type: ignore[attr-defined]
        return found

    monkeypatch.setattr(collection, "_collect_and_package", overtaken)
    assert jobs.run("collect", rid, "manual-upload").state == "ready"  # type: ignore[attr-defined]
    assert nested == ["ready"]
    assert _packages(rid) == 1 and _actions(rid).count("package.created") == 1
    assert _actions(rid).count("request.ready") == 1
