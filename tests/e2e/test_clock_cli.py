"""The clock commands of the real `ferry` executable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ferry.domain.models import Identity
from ferry.jurisdictions.docs import render
from ferry.services import requests, tenants

FERRY = str(Path(sys.executable).parent / "ferry")


def ferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=60)


def test_deadline_json_and_text() -> None:
    out = ferry(
        "deadline",
        "--jurisdiction",
        "eu-fr",
        "--received",
        "2026-04-08T23:30",
        "--tz",
        "Europe/Paris",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert {"due", "extended_due", "acknowledge_by", "rule"} <= set(body)
    assert (body["due"], body["extended_due"], body["acknowledge_by"]) == (
        "2026-05-11",
        "2026-07-08",
        None,
    )
    text = ferry("deadline", "--jurisdiction", "US-CA", "--received", "2026-01-01")
    assert "2026-02-15" in text.stdout and "2026-01-15" in text.stdout
    bad = ferry("deadline", "--jurisdiction", "US-TX", "--received", "2026-01-01")
    assert bad.returncode == 1 and "error[unknown_jurisdiction]" in bad.stderr
    bad_tz = ferry("deadline", "--jurisdiction", "GB", "--received", "2026-01-01", "--tz", "X/Y")
    assert bad_tz.returncode == 1 and "unknown time zone" in bad_tz.stderr


def test_jurisdiction_doc_command_renders_the_committed_doc() -> None:
    out = ferry("jurisdictions", "doc")
    assert out.returncode == 0 and out.stdout == render()
    listed = json.loads(ferry("jurisdictions", "list", "--json").stdout)
    assert (
        len(listed) == 40
        and {"code": "CA-QC", "law": "Quebec Law 25", "file": "ca-qc.yaml"} in listed
    )


def test_request_clock_commands(ferry_env: Path) -> None:
    tenants.create_tenant("acme", "Acme", ["EU-DE"], agent_email="agents@acme.test")
    rid = requests.submit("acme", "access", [Identity.parse("email", "ana@example.org")]).id
    paused = ferry("request", "pause", rid, "--reason", "identity", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["state"] == "paused"
    assert ferry("request", "resume", rid, "--json").returncode == 0
    no_reason = ferry("request", "extend", rid, "--reason", "tired")
    assert no_reason.returncode == 1 and "error[reason_required]" in no_reason.stderr
    ext = ferry("request", "extend", rid, "--reason", "twelve systems to search", "--json")
    assert ext.returncode == 0 and json.loads(ext.stdout)["extended"]
    shown = ferry("request", "clock", rid)
    assert "extended to" in shown.stdout and "twelve systems" in shown.stdout
    soon = ferry("request", "list", "acme", "--due-within", "200d", "--json")
    assert [r["id"] for r in json.loads(soon.stdout)] == [rid]
    assert json.loads(ferry("request", "list", "acme", "--overdue", "--json").stdout) == []
    assert ferry("request", "list", "acme", "--due-within", "soon").returncode == 1
    assert (
        ferry(
            "sla",
            "set",
            "acme",
            "--timezone",
            "Europe/Berlin",
            "--internal-days",
            "20",
            "--reminders",
            "0.5,0.75",
        ).returncode
        == 0
    )
    tick = ferry("sla", "tick", "--json")
    assert tick.returncode == 0 and json.loads(tick.stdout)["checked"] == 1
    rej = ferry(
        "request", "reject", rid, "--reason", "sent the same request 40 times", "--unfounded"
    )
    assert rej.returncode == 0 and "Your right to complain" in rej.stdout
