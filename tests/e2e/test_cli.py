"""The ``ferry`` command line end to end, in-process (Typer's CliRunner) on an isolated store."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from ferry.cli.main import app
from ferry.db import get_engine, unit_of_work
from ferry.demo.estate import build_demo_shop, shop_map_text
from ferry.services import tenants
from ferry.store.tables import AuditEvent, Tenant
from tests.conftest import Outbox

KEY = re.compile(r"fk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


def cli(*args: str, code: int = 0) -> Result:
    """Run ``ferry ARGS`` and check its exit status (wide terminal: no wrapped lines)."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
    return result


def out_json(result: Result) -> Any:
    return json.loads(result.stdout)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def shop(ferry_env: Path, tmp_path: Path) -> list[str]:
    """``init``, tenant acme and its shop system added through the CLI; the shop's sample emails."""
    info = build_demo_shop(tmp_path / "shop.db", customers=50)
    map_file = tmp_path / "shop-map.yaml"
    map_file.write_text(shop_map_text(), encoding="utf-8")
    assert "store ready" in cli("init").stdout
    made = cli("tenant", "create", "acme", "--name", "Acme Retail Ltd", "--jurisdiction", "EU-DE")
    assert "acme" in made.stdout
    url = f"sqlite:///{info.path}"
    added = cli("system", "add", "acme", "shop", "--url", url, "--map", str(map_file))
    assert "added system" in added.stdout
    return info.sample_emails


def submit(email: str) -> dict[str, Any]:
    view: dict[str, Any] = out_json(
        cli("request", "submit", "acme", "--identity", f"email={email}", "--json")
    )
    return view


def ready(email: str) -> str:
    rid = str(submit(email)["id"])
    cli("request", "verify", rid, "--method", "agent", "--note", "called the person back")
    view = out_json(cli("request", "run", rid, "--json"))
    assert view["state"] == "ready", view
    return rid


# --- setup commands ----------------------------------------------------------------------------


def test_init_is_repeatable(ferry_env: Path) -> None:
    cli("init")
    cli("init")
    assert (ferry_env / "ferry.db").is_file()


def test_tenant_create_twice_fails_clearly(shop: list[str]) -> None:
    again = cli("tenant", "create", "acme", "--name", "Other", code=1)
    assert "tenant_exists" in again.output
    assert "'acme' already exists" in flat(again.output)
    assert "Traceback" not in again.output
    listed = out_json(cli("tenant", "list", "--json"))
    assert [(t["slug"], t["name"]) for t in listed] == [("acme", "Acme Retail Ltd")]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["tenant", "create", "Bad Slug", "--name", "x"], "invalid_input"),
        (["tenant", "create", "ok", "--name", "x", "--jurisdiction", "XX"], "unknown_jurisdiction"),
    ],
)
def test_tenant_create_refuses_bad_input(ferry_env: Path, args: list[str], code: str) -> None:
    cli("init")
    result = cli(*args, code=1)
    assert f"error[{code}]" in result.output
    assert out_json(cli("tenant", "list", "--json")) == []


def test_apikey_create_prints_the_key_once(shop: list[str]) -> None:
    result = cli("apikey", "create", "acme", "--name", "x")
    keys = KEY.findall(result.stdout)
    assert len(keys) == 1, result.stdout
    assert "not shown again" in result.stdout
    who = tenants.authenticate(keys[0])
    assert (who.tenant_slug, who.name) == ("acme", "x")
    # a second key is a different key
    other = KEY.findall(cli("apikey", "create", "acme", "--name", "x").stdout)
    assert other and other[0] != keys[0]


def test_apikey_create_admin_and_wrong_combinations(shop: list[str]) -> None:
    admin = out_json(cli("apikey", "create", "--admin", "--name", "ops", "--json"))
    assert tenants.authenticate(admin["key"]).is_admin
    assert "error[invalid_input]" in cli("apikey", "create", "--name", "x", code=1).output
    both = cli("apikey", "create", "acme", "--admin", "--name", "x", code=1)
    assert "error[invalid_input]" in both.output
    nobody = cli("apikey", "create", "nobody", "--name", "x", code=1)
    assert "error[tenant_not_found]" in nobody.output


def test_system_add_refuses_a_map_that_does_not_fit(shop: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(shop_map_text().replace("table: customers", "table: clients"), "utf-8")
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = cli("system", "add", "acme", "shop2", "--url", url, "--map", str(bad), code=1)
    assert "clients" in result.output
    assert "Traceback" not in result.output


# --- a request, start to finish -----------------------------------------------------------------


def test_request_with_an_email_code_from_submit_to_verified_package(
    shop: list[str], outbox: Outbox, tmp_path: Path
) -> None:
    email = shop[0]
    view = submit(email)
    rid = view["id"]
    assert view["state"] == "awaiting_verification"
    assert view["tenant"] == "acme" and view["channel"] == "cli"
    assert view["identities"] == [{"type": "email", "value": email}]

    code = outbox.last_code(email)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = cli("request", "verify", rid, "--method", "email-code", "--code", wrong, code=1)
    assert "error[invalid_code]" in refused.output and "4 tries left" in refused.output
    done = out_json(
        cli("request", "verify", rid, "--method", "email-code", "--code", code, "--json")
    )
    assert done["state"] == "verified" and done["verified_method"] == "email-code"

    ran = out_json(cli("request", "run", rid, "--json"))
    assert ran["state"] == "ready"
    assert ran["package"]["size"] > 0 and len(ran["package"]["sha256"]) == 64

    shown = out_json(cli("request", "show", rid, "--json"))
    actions = [e["action"] for e in shown["events"]]
    for action in ("request.received", "verification.failed", "request.verified",
                   "package.created", "request.ready"):  # fmt: skip
        assert action in actions
    assert [e["seq"] for e in shown["events"]] == sorted(e["seq"] for e in shown["events"])
    listed = out_json(cli("request", "list", "acme", "--json"))
    assert [r["id"] for r in listed] == [rid]
    assert out_json(cli("request", "list", "acme", "--state", "ready", "--json"))[0]["id"] == rid
    assert out_json(cli("request", "list", "acme", "--state", "closed", "--json")) == []
    human = cli("request", "show", rid)
    assert rid in human.stdout and "ready" in human.stdout

    out = tmp_path / "out" / "f.zip"
    cli("package", "fetch", rid, "-o", str(out))
    assert out.is_file()
    checked = cli("package", "verify", str(out))
    assert "ok" in checked.stdout
    report = out_json(cli("package", "verify", str(out), "--json"))
    assert report["ok"] is True and report["files_checked"] > 0

    with zipfile.ZipFile(out) as zf:
        customers = json.loads(zf.read("data/shop/customers.json"))
    assert [row["email"] for row in customers["rows"]] == [email]


def test_request_verified_by_an_agent(shop: list[str]) -> None:
    rid = submit(shop[1])["id"]
    short = cli("request", "verify", rid, "--method", "agent", "--note", "ok", code=1)
    assert "error[invalid_input]" in short.output
    missing = cli("request", "verify", rid, "--method", "agent", code=1)
    assert "--note" in missing.output
    unknown = cli("request", "verify", rid, "--method", "telepathy", code=1)
    assert "telepathy" in unknown.output
    done = out_json(
        cli("request", "verify", rid, "--method", "agent", "--note", "called back", "--json")
    )
    assert done["state"] == "verified" and done["verified_method"] == "agent"
    events = out_json(cli("request", "show", rid, "--json"))["events"]
    verified = next(e for e in events if e["action"] == "request.verified")
    assert verified["actor"] == "agent:cli"
    assert verified["data"]["note"] == "called back"


def test_request_commands_refuse_bad_input(shop: list[str]) -> None:
    bad_identity = cli("request", "submit", "acme", "--identity", "email", code=1)
    assert "TYPE=VALUE" in bad_identity.output
    bad_email = cli("request", "submit", "acme", "--identity", "email=nope", code=1)
    assert "error[invalid_input]" in bad_email.output
    since = ["--since", "2025-06-01", "--until", "2025-01-01"]
    scope = cli("request", "submit", "acme", "--identity", f"email={shop[0]}", *since, code=1)
    assert "error[invalid_input]" in scope.output
    bad_date = cli(
        "request", "submit", "acme", "--identity", "email=a@b.org", "--since", "x", code=1
    )
    assert "--since" in bad_date.output
    assert "error[tenant_not_found]" in cli("request", "list", "nobody", code=1).output
    assert "error[request_not_found]" in cli("request", "show", "0" * 32, code=1).output
    assert "error[invalid_input]" in cli("request", "list", "acme", "--state", "x", code=1).output
    assert out_json(cli("request", "list", "acme", "--json")) == []  # nothing half-written


def test_run_before_verification_fails_and_changes_nothing(shop: list[str]) -> None:
    rid = submit(shop[0])["id"]
    before = out_json(cli("request", "show", rid, "--json"))
    result = cli("request", "run", rid, code=1)
    assert "error[illegal_transition]" in result.output
    assert out_json(cli("request", "show", rid, "--json")) == before


def test_package_fetch_without_a_package_fails(shop: list[str], tmp_path: Path) -> None:
    rid = submit(shop[0])["id"]
    result = cli("package", "fetch", rid, "-o", str(tmp_path / "x.zip"), code=1)
    assert "error[no_package]" in result.output
    assert not (tmp_path / "x.zip").exists()


def _rewrite(src: Path, dest: Path, name: str, change: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(
                item, data.replace(b'"rows": [', change, 1) if item.filename == name else data
            )


def test_package_verify_names_a_tampered_file(shop: list[str], tmp_path: Path) -> None:
    rid = ready(shop[0])
    good = tmp_path / "f.zip"
    cli("package", "fetch", rid, "-o", str(good))
    cli("package", "verify", str(good))
    bad = tmp_path / "tampered.zip"
    _rewrite(good, bad, "data/shop/orders.json", b'"rows": [{"id": 999999},')
    result = cli("package", "verify", str(bad), code=1)
    assert "NOT OK" in result.stdout
    assert "data/shop/orders.json" in result.stdout
    assert "customers.json" not in result.stdout  # the untouched files are not blamed
    report = out_json(cli("package", "verify", str(bad), "--json", code=1))
    assert report["ok"] is False
    assert any("data/shop/orders.json" in p for p in report["problems"])


def test_package_verify_of_a_missing_or_broken_file(shop: list[str], tmp_path: Path) -> None:
    assert (
        "error[file_not_found]" in cli("package", "verify", str(tmp_path / "no.zip"), code=1).output
    )
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip")
    assert "NOT OK" in cli("package", "verify", str(junk), code=1).stdout


# --- audit ---------------------------------------------------------------------------------------


def test_audit_verify_names_the_changed_event(shop: list[str]) -> None:
    ready(shop[0])
    intact = cli("audit", "verify", "acme")
    assert "intact" in intact.stdout
    report = out_json(cli("audit", "verify", "acme", "--json"))
    assert report["ok"] is True and report["events"] > 5

    with unit_of_work() as session:
        tenant_id = session.scalars(select(Tenant.id).where(Tenant.slug == "acme")).one()
        victim = session.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == tenant_id, AuditEvent.action == "request.verified"
            )
        ).one()
        seq = victim.seq
    with get_engine().begin() as conn:
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq == seq)
            .values(data={"from": "awaiting_verification", "method": "email-code"})
        )
    broken = cli("audit", "verify", "acme", code=1)
    assert f"#{seq}" in broken.stdout
    assert "BROKEN" in broken.stdout
    report = out_json(cli("audit", "verify", "acme", "--json", code=1))
    assert report["ok"] is False and report["broken_at"] == seq
    assert "error[tenant_not_found]" in cli("audit", "verify", "nobody", code=1).output


# --- deadlines -----------------------------------------------------------------------------------


def test_deadline_rolls_a_weekend_to_monday(ferry_env: Path) -> None:
    found = out_json(
        cli("deadline", "--jurisdiction", "EU-DE", "--received", "2026-01-31", "--json")
    )
    # one month after 31 January is 28 February 2026, a Saturday: due Monday 2 March
    assert found["due"] == "2026-03-02"
    assert found["received"] == "2026-01-31"
    assert found["jurisdiction"] == "EU-DE"
    assert "GDPR" in found["law"] and "12(3)" in found["rule"]


def test_deadline_for_california_is_45_calendar_days(ferry_env: Path) -> None:
    result = cli("deadline", "--jurisdiction", "US-CA", "--received", "2026-01-01")
    assert "2026-02-15" in result.stdout  # a Sunday, and CCPA does not roll
    assert "CCPA" in result.stdout
    assert (
        out_json(cli("deadline", "--jurisdiction", "us-ca", "--received", "2026-01-01", "--json"))[
            "due"
        ]
        == "2026-02-15"
    )


@pytest.mark.parametrize(
    ("jurisdiction", "received", "mention"),
    [("XX", "2026-01-01", "XX"), ("EU-ZZ", "2026-01-01", "EU-ZZ"),
     ("EU-DE", "31/01/2026", "31/01/2026"), ("EU-DE", "2026-02-30", "2026-02-30"),
     ("EU-DE", "2026-01-3199", "2026-01-3199"), ("EU-DE", "2026-01-31 and then", "and then")],
)  # fmt: skip
def test_deadline_refuses_unknown_input(
    ferry_env: Path, jurisdiction: str, received: str, mention: str
) -> None:
    result = cli("deadline", "--jurisdiction", jurisdiction, "--received", received, code=1)
    assert "error[invalid_input]" in result.output or "error[unknown_jurisdiction]" in result.output
    assert mention in result.output
    assert "Traceback" not in result.output


def test_brackets_in_input_are_printed_not_interpreted(shop: list[str]) -> None:
    """Rich markup in what people type must neither vanish nor crash the command."""
    closing = cli("request", "submit", "acme", "--identity", "email=[/x]", code=1)
    assert "error[invalid_input]" in closing.output
    assert "'[/x]' is not an email address" in closing.output
    assert isinstance(closing.exception, SystemExit)  # a clean exit, not a MarkupError
    styled = cli("tenant", "create", "beta", "--name", "[bold]Beta[/bold] [/oops]")
    assert "beta" in styled.stdout
    assert "[bold]Beta[/bold] [/oops]" in cli("tenant", "list").stdout


def test_deadline_takes_a_full_timestamp(ferry_env: Path) -> None:
    args = ["--jurisdiction", "EU-DE", "--received", "2026-01-31T23:30:00", "--json"]
    assert out_json(cli("deadline", *args))["due"] == "2026-03-02"
