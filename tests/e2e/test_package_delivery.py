"""A package through the services: formats chosen, redacted, signed, encrypted at rest,
decrypted on download, age-encrypted for delivery, keys published; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import pyrage
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ferry.app import create_app
from ferry.cli.main import app as cli
from ferry.crypto.envelope import MAGIC
from ferry.domain.models import Identity
from ferry.services import collection, demo, keys, packages, requests, verification
from ferry.services.packaging import PACKAGE_FILE, REDACTIONS_FILE
from ferry.settings import get_settings


def _prepare_ticket(db: str, email: str) -> tuple[str, str]:
    """Put another person (an agent), an email, a card and the subject's name in a ticket."""
    with closing(sqlite3.connect(db)) as con:
        cid, first = con.execute(
            "select id, first_name from customers where email = ?", (email,)
        ).fetchone()
        (agent,) = con.execute("select name from agents order by id limit 1").fetchone()
        (tid,) = con.execute(
            "select id from support_tickets where customer_id = ? order by id limit 1", (cid,)
        ).fetchone()
        body = (
            f"Hello, {first} here. {agent} told me to write to billing.team@corp.example "
            "and to quote card 4111 1111 1111 1111. My own address is " + email + "."
        )
        con.execute("update support_tickets set body = ? where id = ?", (body, tid))
        con.commit()
    return str(agent), str(first)


@pytest.fixture
def built(ferry_env_any: Path) -> dict[str, object]:
    setup = demo.seed(customers=40)
    person = setup.sample_emails[0]
    agent, first = _prepare_ticket(setup.database, person)
    view = requests.submit(
        "acme", "access", [Identity.parse("email", person)], formats="json,csv,xml,html"
    )
    verification.attest(view.id, "agent-1", "confirmed on the phone with the order number")
    done = collection.run(view.id, "agent-1")
    assert done.state == "ready", done.failure
    return {"id": view.id, "person": person, "agent": agent, "first": first, "var": ferry_env_any}


def test_package_is_encrypted_at_rest_and_decrypts_to_a_signed_bag(
    built: dict[str, object],
) -> None:
    rid = str(built["id"])
    folder = get_settings().packages_dir / "acme" / rid
    stored = (folder / PACKAGE_FILE).read_bytes()
    assert stored.startswith(MAGIC) and b"PK\x03\x04" not in stored[:4096]
    assert sorted(p.name for p in folder.iterdir()) == [PACKAGE_FILE, REDACTIONS_FILE]
    assert str(built["person"]).encode() not in stored

    out = Path(str(built["var"])) / "fetched.zip"
    packages.fetch(rid, out, "agent-1")
    shown = requests.show(rid)
    assert shown.package is not None
    assert hashlib.sha256(out.read_bytes()).hexdigest() == shown.package.sha256
    key = keys.signing_keys("acme")[0]
    report = packages.verify_file(out, key.pem)
    assert report.ok, report.problems
    assert report.signed_by == key.key_id

    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {
            "data/shop/customers.csv",
            "data/shop/customers.xml",
            "data/shop/customers.xsd",
        } <= names
        assert not any(n.endswith((".vcf", ".ics")) for n in names)  # not chosen
        tickets = json.loads(zf.read("data/shop/support_tickets.json"))["rows"]
        index = zf.read("data/index.html").decode()
    bodies = " ".join(str(t["body"]) for t in tickets)
    assert str(built["agent"]) not in bodies and str(built["agent"]) not in index
    assert "billing.team@corp.example" not in bodies and "4111 1111 1111 1111" not in bodies
    assert "[redacted: name]" in bodies and "[redacted: email]" in bodies
    assert "[redacted: card]" in bodies
    assert f"{built['first']} here" in bodies and str(built["person"]) in bodies  # subject kept


def test_reviewer_sees_the_redaction_report(built: dict[str, object]) -> None:
    report = packages.redactions(str(built["id"]), "reviewer-1")
    assert report.counts["name"] >= 1 and report.counts["email"] == 1
    assert report.counts["card"] == 1
    originals = {f["original"] for f in report.findings}
    assert str(built["agent"]) in originals and "billing.team@corp.example" in originals
    agent_finding = next(f for f in report.findings if f["original"] == built["agent"])
    assert agent_finding["dataset"] == "support_tickets" and "told me" in agent_finding["context"]


def test_download_streams_the_decrypted_zip_and_keys_are_published(
    built: dict[str, object],
) -> None:
    rid = str(built["id"])
    with TestClient(create_app()) as client:
        link = packages.download_link(rid, "agent-1")
        got = client.get(f"/api/v1/downloads/{link.token}")
        assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
        assert int(got.headers["content-length"]) == len(got.content)
        assert hashlib.sha256(got.content).hexdigest() == got.headers["x-content-sha256"]
        zipfile.ZipFile(io.BytesIO(got.content)).testzip()
        tenant_keys = client.get("/api/v1/tenants/acme/signing-key").json()["keys"]
        everyone = client.get("/.well-known/ferry-signing-keys").json()["keys"]
        assert client.get("/api/v1/tenants/nope/signing-key").status_code == 404
    assert [k["key_id"] for k in tenant_keys] == [k["key_id"] for k in everyone]
    saved = Path(str(built["var"])) / "dl.zip"
    saved.write_bytes(got.content)
    assert (
        packages.verify_file(saved, tenant_keys[0]["public_key"]).signed_by
        == tenant_keys[0]["key_id"]
    )


def test_age_delivery_round_trips(built: dict[str, object]) -> None:
    rid = str(built["id"])
    identity = pyrage.x25519.Identity.generate()
    out = Path(str(built["var"])) / "pkg.zip.age"
    packages.fetch(rid, out, "agent-1", age_recipients=[str(identity.to_public())])
    plain = pyrage.decrypt(out.read_bytes(), [identity])
    shown = requests.show(rid)
    assert shown.package is not None
    assert hashlib.sha256(plain).hexdigest() == shown.package.sha256


def test_damaged_stored_package_is_reported_not_served(built: dict[str, object]) -> None:
    from ferry.domain.errors import FerryError

    rid = str(built["id"])
    path = get_settings().packages_dir / "acme" / rid / PACKAGE_FILE
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x01
    path.write_bytes(bytes(raw))
    out = Path(str(built["var"])) / "broken.zip"
    with pytest.raises(FerryError, match="cannot be opened"):
        packages.fetch(rid, out, "agent-1")
    assert not out.exists()


def test_cli_verify_with_key_says_what_is_wrong(built: dict[str, object]) -> None:
    rid = str(built["id"])
    var = Path(str(built["var"]))
    out = var / "cli.zip"
    runner = CliRunner()
    assert runner.invoke(cli, ["package", "fetch", rid, "-o", str(out)]).exit_code == 0
    pem = var / "key.pem"
    pem.write_text(keys.signing_keys("acme")[0].pem)
    ok = runner.invoke(cli, ["package", "verify", str(out), "--key", str(pem)])
    assert ok.exit_code == 0, ok.output
    assert "complete and untouched" in ok.output
    wrong = "00" * 32
    bad = runner.invoke(cli, ["package", "verify", str(out), "--key", wrong])
    assert bad.exit_code == 1 and "not the key you gave" in bad.output
    garbage = runner.invoke(cli, ["package", "verify", str(out), "--key", "xyz"])
    assert garbage.exit_code == 1 and "not an Ed25519 public key" in garbage.output


def test_request_formats_are_checked_at_submit(ferry_env: Path) -> None:
    from ferry.domain.errors import InvalidInput

    demo.seed(customers=5)
    with pytest.raises(InvalidInput, match="unknown format"):
        requests.submit(
            "acme", "access", [Identity.parse("email", "a@example.org")], formats="json,exe"
        )


def test_tenant_keys_are_stored_wrapped_and_need_the_settings_secret(
    ferry_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from ferry.db import unit_of_work
    from ferry.domain.errors import FerryError
    from ferry.services import tenants as tenant_service
    from ferry.settings import reset_settings
    from ferry.store import tenants
    from ferry.store.tables import TenantKey

    tenant_service.create_tenant("globex", "Globex", ["GB"], actor="test")
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, "globex")
        signer = keys.signer_for(session, tenant)
        again = keys.signer_for(session, tenant)
        _, secret = keys.package_key(session, tenant)
    assert signer.public_raw == again.public_raw  # made once, then reused
    with unit_of_work() as session:
        rows = session.query(TenantKey).all()
        stored = b"".join(base64.b64decode(r.secret) for r in rows)
    assert len(rows) == 2
    assert signer.private_raw() not in stored and secret not in stored
    monkeypatch.setenv("FERRY_SECRET_KEY", "another secret entirely")
    reset_settings()
    with unit_of_work() as session, pytest.raises(Exception, match="does not open"):
        keys.signer_for(session, tenants.get_by_slug(session, "globex"))
    with unit_of_work() as session, pytest.raises(FerryError, match="gone"):
        keys.package_key_by_id(session, tenants.get_by_slug(session, "globex").id, "nope")


def test_redaction_report_over_the_api_needs_the_tenants_key(built: dict[str, object]) -> None:
    from ferry.services import tenants as tenant_service

    rid = str(built["id"])
    key = tenant_service.create_api_key("acme", "reviewer", actor="test")
    with TestClient(create_app()) as client:
        assert client.get(f"/api/v1/requests/{rid}/redactions").status_code == 401
        got = client.get(
            f"/api/v1/requests/{rid}/redactions", headers={"Authorization": f"Bearer {key}"}
        )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["counts"]["card"] == 1
    assert any(f["original"] == built["agent"] for f in body["findings"])


def test_portal_form_carries_the_chosen_formats(ferry_env: Path) -> None:
    from ferry.db import unit_of_work
    from ferry.store.tables import Request

    setup = demo.seed(customers=5)
    with TestClient(create_app()) as client:
        form = {"email": setup.sample_emails[0], "kind": "access", "jurisdiction": "GB"}
        got = client.post(
            "/p/acme/", data={**form, "formats": ["csv", "html"]}, follow_redirects=False
        )
        assert got.status_code == 303, got.text
        bad = client.post("/p/acme/", data={**form, "formats": ["exe"]}, follow_redirects=False)
        assert bad.status_code == 400 and "unknown format" in bad.text.lower()
    with unit_of_work() as session:
        [req] = session.query(Request).all()
        assert req.formats == ["csv", "html"]


def test_rotated_keys_still_open_and_verify_old_packages(built: dict[str, object]) -> None:
    rid, var = str(built["id"]), Path(str(built["var"]))
    old = keys.signing_keys("acme")[0]
    assert keys.rotate("acme", "signing", "admin") == old.key_id
    assert keys.rotate("acme", "packages", "admin")
    before = var / "old.zip"
    packages.fetch(rid, before, "agent-1")  # the retired package key still opens it
    assert packages.verify_file(before, old.pem).ok
    again = requests.submit("acme", "access", [Identity.parse("email", str(built["person"]))])
    verification.attest(again.id, "agent-1", "confirmed on the phone again")
    assert collection.run(again.id, "agent-1").state == "ready"
    listed = keys.signing_keys("acme")
    assert listed[0].key_id == old.key_id and listed[0].retired_at is not None
    new = listed[-1]
    assert new.key_id != old.key_id and new.retired_at is None
    after = var / "new.zip"
    packages.fetch(again.id, after, "agent-1")
    assert packages.verify_file(after, new.pem).ok
    assert not packages.verify_file(after, old.pem).ok


def test_request_detail_shows_signature_and_redaction_counts(built: dict[str, object]) -> None:
    from ferry.services import tenants as tenant_service

    key = tenant_service.create_api_key("acme", "agent", actor="test")
    with TestClient(create_app()) as client:
        got = client.get(
            f"/api/v1/requests/{built['id']}", headers={"Authorization": f"Bearer {key}"}
        ).json()
    assert got["package"]["signed_by"] == keys.signing_keys("acme")[0].key_id
    assert got["package"]["redactions"]["card"] == 1
    events = [e for e in got["events"] if e["action"] == "package.created"]
    assert events[-1]["data"]["redactions"]["card"] == 1
