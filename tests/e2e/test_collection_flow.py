"""Collection through the services: files and an API together, gaps, retry, partial, bulk."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from ferry.cli.main import app as cli
from ferry.db import unit_of_work
from ferry.domain.models import Identity
from ferry.services import (
    bulk,
    collection,
    gather,
    packages,
    requests,
    sweep,
    systems,
    tenants,
    verification,
)
from ferry.settings import get_settings
from ferry.store.tables import AuditEvent, System
from tests.connectors.apiserver import Api, serve

FILES_MAP = """
system: legacy
datasets:
  people:
    primary_key: id
    identities: {email: email, customer_id: id}
    fields:
      id: user.unique_id
      email: {category: user.contact.email, provenance: provided}
      notes: {category: user.content, provenance: observed, free_text: true}
"""

API_MAP = """
system: api
connection:
  auth: {type: bearer}
  retries: 1
  backoff_seconds: 0.01
datasets:
  orders:
    primary_key: id
    references: [{field: person_id, to: legacy.people.id}]
    source:
      path: /orders
      params: {person_id: "{value}"}
      items: orders
      pagination: {type: cursor, param: cursor, cursor_path: next}
    fields: {id: user.behavior.purchase_history, total: user.financial}
"""

PEOPLE = "id,email,notes\n1,ann@example.com,likes tea\n2,bob@example.com,\n3,cy@example.com,x\n"


def _setup(folder: Path, api: Api) -> None:
    folder.mkdir()
    (folder / "people.csv").write_text(PEOPLE)
    tenants.create_tenant("t", "T Ltd", ["GB"])
    systems.add_system("t", "legacy", str(folder), FILES_MAP)
    systems.add_system("t", "api", api.url, API_MAP, credentials={"token": "s3cret-token"})


def _request(email: str) -> str:
    view = requests.submit("t", "access", [Identity.parse("email", email)], channel="cli")
    verification.attest(view.id, "agent", "called back")
    return view.id


def _package(request_id: str) -> dict[str, list[dict[str, object]]]:
    path = packages.fetch(request_id, get_settings().var_dir / f"{request_id}.zip", "test")
    with zipfile.ZipFile(path) as zf:
        return {
            n.removeprefix("data/").removesuffix(".json"): json.loads(zf.read(n))["rows"]
            for n in zf.namelist()
            if n.endswith(".json") and n.count("/") == 2
        }


def test_gap_then_retry_resumes_then_ready(ferry_env: Path, tmp_path: Path) -> None:
    with serve(Api(bearer="s3cret-token")) as api:
        _setup(tmp_path / "legacy", api)
        rid = _request("ann@example.com")
        api.always_500 = True
        view = collection.run(rid, "agent")
        assert view.state == "failed"
        assert "system 'api' failed after 3 attempts: GET /orders returned 500" in str(view.failure)
        report = {g.system: g for g in gather.show_report(rid)}
        assert report["legacy"].status == "done" and report["api"].status == "failed"
        api.always_500 = False
        api.requests.clear()
        assert collection.run(rid, "agent").state == "ready"
        rows = _package(rid)
    assert [r["id"] for r in rows["legacy/people"]] == ["1"]
    assert {r["id"] for r in rows["api/orders"]} == {10, 13, 16, 19}
    assert not (ferry_env / "work" / "t" / rid).exists()  # spools deleted after packaging


def test_partial_delivery_states_the_gap(ferry_env: Path, tmp_path: Path) -> None:
    with serve(Api(bearer="s3cret-token")) as api:
        _setup(tmp_path / "legacy", api)
        rid = _request("ann@example.com")
        api.always_500 = True
        assert collection.run(rid, "agent").state == "failed"
        result = CliRunner().invoke(cli, ["request", "gaps", rid])
        assert result.exit_code == 0 and "returned 500" in result.output
        result = CliRunner().invoke(
            cli, ["request", "deliver-partial", rid, "--reason", "API down for a week"]
        )
        assert result.exit_code == 0, result.output
    assert requests.show(rid).state == "ready"
    rows = _package(rid)
    assert rows["ferry/gaps"][0]["system"] == "api"
    assert "returned 500" in str(rows["ferry/gaps"][0]["problem"])
    assert [r["email"] for r in rows["legacy/people"]] == ["ann@example.com"]


def test_bulk_run_packages_each_person_alone(ferry_env: Path, tmp_path: Path) -> None:
    with serve(Api(bearer="s3cret-token")) as api:
        _setup(tmp_path / "legacy", api)
        ids = {e: _request(e) for e in ("ann@example.com", "bob@example.com", "cy@example.com")}
        result = CliRunner().invoke(cli, ["request", "run", "--all", "t"])
        assert result.exit_code == 0, result.output
        assert "3 packaged, 0 failed" in result.output
    for email, rid in ids.items():
        assert requests.show(rid).state == "ready"
        rows = _package(rid)
        assert [r["email"] for r in rows["legacy/people"]] == [email]
    orders = {e: {r["id"] for r in _package(rid)["api/orders"]} for e, rid in ids.items()}
    assert orders["ann@example.com"] == {10, 13, 16, 19}
    assert not orders["ann@example.com"] & orders["bob@example.com"]
    report = {g.system: g.rows for g in gather.show_report(ids["ann@example.com"])}
    assert report == {"legacy": 1, "api": 4}  # this person's rows, not the batch's
    assert bulk.run_all("t", "agent").completed == []  # nothing left to do


def test_failed_bulk_batch_resumes_from_what_was_done(ferry_env: Path, tmp_path: Path) -> None:
    with serve(Api(bearer="s3cret-token")) as api:
        _setup(tmp_path / "legacy", api)
        ann, bob, cy = (_request(f"{n}@example.com") for n in ("ann", "bob", "cy"))
        api.always_500 = True
        failed = bulk.run_all("t", "agent")
        assert failed.completed == [] and set(failed.failed) == {ann, bob, cy}
        assert all("run --all t` resumes the batch" in m for m in failed.failed.values())
        [(folder, members)] = gather.batches("t")
        assert sorted(members) == sorted([ann, bob, cy])
        api.always_500 = False  # the worker's sweep does not retry a gap: the agent decides
        assert sweep.collect_pending() == {}
        assert {requests.show(r).state for r in (ann, bob, cy)} == {"failed"}
        api.always_500 = True
        assert list(folder.glob(f"legacy/{bob}.*.spool"))
        # a member delivered partially reads the batch's rows; one withdrawn leaves no rows
        partial = bulk.deliver_partial(ann, "agent", "API down")
        assert partial.state == "ready"
        assert [r["email"] for r in _package(ann)["legacy/people"]] == ["ann@example.com"]
        requests.withdraw(bob, "subject", "changed my mind")
        assert not list(folder.glob(f"*/{bob}.*.spool")) and not list(folder.glob(f"*/{ann}.*"))
        assert gather.batches("t") == [(folder, [cy])]
        # the legacy system is not read again: its file is gone, yet cy's rows are there
        (tmp_path / "legacy" / "people.csv").unlink()
        api.always_500 = False
        resumed = CliRunner().invoke(cli, ["request", "run", "--all", "t"])
        assert resumed.exit_code == 0 and "1 packaged, 0 failed" in resumed.output
    assert requests.show(cy).state == "ready"
    rows = _package(cy)
    assert [r["email"] for r in rows["legacy/people"]] == ["cy@example.com"]
    assert {r["id"] for r in rows["api/orders"]} == {12, 15, 18, 21}
    assert gather.batches("t") == [] and not folder.exists()
    with unit_of_work() as session:
        purged = session.scalars(
            sa.select(AuditEvent.data).where(
                AuditEvent.request_id == bob, AuditEvent.action == "request.data_purged"
            )
        ).one()
    assert purged["bulk_batch"] is True


def test_credentials_are_encrypted_and_never_shown(ferry_env: Path, tmp_path: Path) -> None:
    with serve(Api(bearer="s3cret-token")) as api:
        _setup(tmp_path / "legacy", api)
        assert systems.test_system("t", "api").problems == []
        pg_url = "postgresql+psycopg://reader:db-pa55@127.0.0.1:1/x"
        url, creds = systems.split_password(pg_url, {})
        assert "db-pa55" not in url and creds == {"password": "db-pa55"}
    with unit_of_work() as session:
        stored = session.scalars(sa.select(System).where(System.name == "api")).one()
        assert stored.credentials and "s3cret" not in stored.credentials
        trail = json.dumps([e.data for e in session.scalars(sa.select(AuditEvent))])
    assert "s3cret" not in trail and '"credentials": ["token"]' in trail


def test_api_gap_report_partial_delivery_and_bulk(ferry_env: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ferry.app import create_app

    with serve(Api(bearer="s3cret-token")) as api:
        _setup(tmp_path / "legacy", api)
        key = tenants.create_api_key("t", "agent")
        tenants.create_tenant("other", "Other Ltd", ["GB"])
        other = tenants.create_api_key("other", "nosy")
        rid = _request("ann@example.com")
        api.always_500 = True
        auth = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app()) as client:
            ran = client.post(f"/api/v1/requests/{rid}/run?wait=true", headers=auth)
            assert ran.json()["state"] == "failed"
            report = client.get(f"/api/v1/requests/{rid}/collection", headers=auth)
            assert report.status_code == 200
            assert {g["system"]: g["status"] for g in report.json()} == {
                "api": "failed",
                "legacy": "done",
            }
            assert "s3cret" not in report.text
            nosy = {"Authorization": f"Bearer {other}"}
            assert client.get(f"/api/v1/requests/{rid}/collection", headers=nosy).status_code in (
                403,
                404,
            )
            empty = client.post(
                f"/api/v1/requests/{rid}/deliver-partial", json={"reason": ""}, headers=auth
            )
            assert empty.status_code == 422
            done = client.post(
                f"/api/v1/requests/{rid}/deliver-partial", json={"reason": "API down"}, headers=auth
            )
            assert done.status_code == 200 and done.json()["state"] == "ready"
            api.always_500 = False
            second = _request("bob@example.com")
            bulk_run = client.post("/api/v1/tenants/t/requests/run-all", headers=auth)
            assert bulk_run.json() == {"completed": [second], "failed": {}, "waiting": []}
            assert (
                client.post("/api/v1/tenants/t/requests/run-all", headers=nosy).status_code == 403
            )
