"""Transfers end to end on SQLite and on the real PostgreSQL: a push that lands once, a push that
fails and alerts the team, and a manual retry; CLI view of the deliveries."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ferry.cli.main import app
from ferry.db import unit_of_work
from ferry.services import audit, delivery, recipients, requests
from ferry.store import tenants as tenant_store
from tests.conftest import Outbox
from tests.delivery.conftest import ready_request
from tests.delivery.peers import sftp_peer


def test_transfer_on_any_store(shop_any: str, ferry_env_any: Path, tmp_path: Path) -> None:
    with unit_of_work() as session:
        tenant_store.get_by_slug(session, "acme").agent_email = "privacy@acme.example"
    with sftp_peer(tmp_path) as peer:
        recipients.add(
            "acme",
            "bank",
            "sftp",
            {
                "url": f"sftp://bob@127.0.0.1:{peer.port}/inbox",
                "host_key": peer.host_key_line,
                "key_file": str(peer.client_key_file),
            },
            country="FR",
        )
        peer.full_disk = True
        rid = ready_request(shop_any, recipient="bank")
        [failed] = delivery.list_for(rid)
        assert failed.state == "failed" and "disk" in (failed.error or "")
        alerts = Outbox(ferry_env_any).to("privacy@acme.example")
        assert any("Delivery failed" in m["Subject"] for m in alerts)
        peer.full_disk = False
        result = CliRunner().invoke(app, ["request", "deliver", rid])
        assert result.exit_code == 0, result.output
        assert len(list((peer.root / "inbox").iterdir())) == 1
    listed = CliRunner().invoke(app, ["request", "deliveries", rid, "--json"])
    [row] = json.loads(listed.output)
    assert row["state"] == "delivered" and row["attempts"] == 2
    assert requests.show(rid).state == "delivered"
    assert audit.verify_tenant("acme").ok


def test_opendsr_callbacks_on_any_store(shop_any: str, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from ferry.app import create_app
    from ferry.services import collection, opendsr_callbacks, tenants
    from ferry.settings import reset_settings
    from tests.delivery.peers import serve_app
    from tests.delivery.test_opendsr import Controller, body

    monkeypatch.setenv("FERRY_ALLOW_LOOPBACK_CALLBACKS", "1")
    reset_settings()
    auth = {"Authorization": f"Bearer {tenants.create_api_key('acme', 'controller')}"}
    ctl = Controller()
    with TestClient(create_app()) as client, serve_app(ctl.app()) as base:
        ctl.certificate = client.get("/opendsr/v1/processor.crt").content
        ctl.fail_first = 1
        sent = body(shop_any, [f"{base}/cb"])
        assert client.post("/opendsr/v1/requests", json=sent, headers=auth).status_code == 201
        rid = requests.list_requests("acme")[0].id
        collection.run(rid, "agent")
        opendsr_callbacks.drain()
    assert [c["request_status"] for c in ctl.received] == ["in_progress", "completed"]
    assert ctl.bad == [] and ctl.hits == 3
    assert audit.verify_tenant("acme").ok
