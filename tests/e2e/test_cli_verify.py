"""``ferry request verify ID --method METHOD …`` for each method, and ``ferry verify …``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ferry.cli.main import app
from ferry.domain.models import Identity
from ferry.services import requests
from tests.verify.support import seed

runner = CliRunner()


def ferry(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def state(rid: str) -> str:
    return requests.show(rid, with_events=False).state


def new(email: str, jurisdiction: str = "GB") -> str:
    return requests.submit(
        "acme", "access", [Identity.parse("email", email)], jurisdiction=jurisdiction
    ).id


def test_each_method_from_the_command_line(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    a, b, c, d, e = (shop.person(i) for i in range(5))

    rid = new(a)
    code, out = ferry("request", "verify", rid, "--method", "email-code", "--code", "000000")
    assert code == 1 and "not right" in out
    code, out = ferry(
        "request",
        "verify",
        rid,
        "--method",
        "email-code",
        "--code",
        shop.outbox.last_code(a),
        "--json",
    )
    assert code == 0 and json.loads(out)["state"] == "verified"

    rid = new(b, "US-CA")
    facts = shop.facts(b)
    points = [arg for k, v in facts.items() for arg in ("--point", f"{k}={v}")]
    code, out = ferry("request", "verify", rid, "--method", "knowledge", *points)
    assert code == 0 and state(rid) == "verified"

    rid = new(c)
    doc = ferry_env / "id.pdf"
    doc.write_bytes(b"%PDF-1.7 passport scan")
    code, out = ferry("request", "verify", rid, "--method", "document", "--file", str(doc))
    assert code == 0 and "needs 1 approval" in out
    code, out = ferry(
        "request",
        "verify",
        rid,
        "--method",
        "document",
        "--document",
        "1",
        "--decision",
        "approve",
        "--reason",
        "photo and name match",
    )
    assert code == 0 and state(rid) == "verified"
    assert not list((ferry_env / "documents").rglob("*.sealed"))

    rid = new(d)
    permission = ferry_env / "permission.pdf"
    permission.write_bytes(b"%PDF-1.7 I authorise my sister")
    code, out = ferry(
        "request",
        "verify",
        rid,
        "--method",
        "authorized-agent",
        "--agent-name",
        "Jo",
        "--signed-by",
        "the person",
        "--signed-on",
        "2026-01-05",
        "--file",
        str(permission),
    )
    assert code == 0, out
    code, out = ferry(
        "request", "verify", rid, "--method", "authorized-agent", "--code", shop.outbox.last_code(d)
    )
    assert code == 0 and state(rid) == "verified"

    rid = new(e)
    code, out = ferry("request", "verify", rid, "--method", "magic-link", "--send")
    assert code == 0
    code, out = ferry(
        "request", "verify", rid, "--method", "agent", "--note", "called back on the number on file"
    )
    assert code == 0 and state(rid) == "verified"
    code, out = ferry("verify", "evidence", rid, "--json")
    assert code == 0 and json.loads(out)["evidence"][0]["method"] == "agent"


def test_policy_and_risk_from_the_command_line(ferry_env: Path) -> None:
    shop = seed(ferry_env)
    code, out = ferry("verify", "policy", "acme", "{not json")
    assert code == 1 and "not valid JSON" in out
    code, out = ferry("verify", "policy", "acme", '{"level": 2}', "--kind", "access")
    assert code == 0
    rid = new(shop.person(0))
    code, out = ferry("verify", "risk", rid, "--signal", "address_differs")
    assert code == 0 and "required level now 3" in out
    code, out = ferry("request", "verify", rid, "--method", "sonar")
    assert code == 1 and "unknown method" in out
