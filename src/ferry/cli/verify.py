"""``ferry request verify ID --method METHOD …`` and ``ferry verify policy|risk|evidence``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import typer

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.services import verification, verify_facts, verify_policy, verify_review

verify_app = typer.Typer(
    help="Identity verification policy, risk and evidence.", no_args_is_help=True
)

METHOD_HELP = (
    "email-code, magic-link, sms-code, totp, knowledge, document, authorized-agent or agent"
)


@dataclass
class VerifyArgs:
    """Everything ``ferry request verify`` may be given; each method reads its own options."""

    request_id: str
    method: str
    code: str | None = None
    token: str | None = None
    points: list[str] | None = None
    declaration: str | None = None
    note: str | None = None
    agent: str = "cli"
    level: int | None = None
    send: bool = False
    file: Path | None = None
    document: int | None = None
    decision: str | None = None
    reason: str = ""
    agent_name: str | None = None
    agent_kind: str = "person"
    signed_by: str | None = None
    signed_on: str | None = None


def _need(value: str | None, option: str, method: str) -> str:
    if not value:
        raise InvalidInput(f"--method {method} needs {option}")
    return value


def _points(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(
                f"--point {pair!r} must look like NAME=VALUE, e.g. postcode=SW1A 1AA"
            )
        out[name.strip()] = value
    return out


def run(a: VerifyArgs) -> None:
    """Carry out one verification step from the command line (the CLI acts as an operator)."""
    m = a.method
    if a.send:
        verification.start(a.request_id, m)
    elif m == "agent":
        verification.attest(a.request_id, a.agent, _need(a.note, "--note TEXT", m), level=a.level)
    elif m in ("email-code", "sms-code", "totp", "authorized-agent") and not a.agent_name:
        code = _need(a.code, "--code CODE", m)
        verification.answer(a.request_id, m, {"code": code})
    elif m == "magic-link":
        verification.answer(a.request_id, m, {"token": _need(a.token, "--token TOKEN", m)})
    elif m == "knowledge":
        fields = _points(a.points)
        if a.declaration:
            fields["declaration"] = a.declaration
        verification.answer(a.request_id, m, fields)
    elif m == "document":
        _document(a)
    elif m == "authorized-agent":
        _authorized_agent(a)
    else:
        raise InvalidInput(f"unknown method {m!r}; use {METHOD_HELP}")


def _document(a: VerifyArgs) -> None:
    if a.file:
        done = verify_review.upload(a.request_id, a.file.read_bytes(), None)
        console.print(
            f"document {done.id} stored sealed; needs {done.approvals_needed} approval(s)"
        )
        return
    if a.document is None or a.decision not in ("approve", "reject"):
        raise InvalidInput(
            "--method document needs --file PATH, or --document N with "
            "--approve/--reject and --reason TEXT"
        )
    verify_review.decide(
        a.request_id, a.document, a.decision == "approve", a.reason, f"agent:{a.agent}", None
    )


def _authorized_agent(a: VerifyArgs) -> None:
    permission = a.file.read_bytes() if a.file else b""
    if not a.signed_on:
        raise InvalidInput("--method authorized-agent needs --signed-on YYYY-MM-DD")
    try:
        signed = date.fromisoformat(a.signed_on)
    except ValueError:
        raise InvalidInput(f"--signed-on {a.signed_on!r} is not a date like 2026-01-31") from None
    verify_review.register_agent(
        a.request_id,
        a.agent_name or "",
        a.agent_kind,
        _need(a.signed_by, "--signed-by NAME", "authorized-agent"),
        signed,
        permission,
        f"cli:{a.agent}",
    )


@verify_app.command("policy")
@handle_errors
def policy(
    tenant: str,
    rules: str = typer.Argument(..., help='JSON, e.g. \'{"level": 2, "methods": ["knowledge"]}\''),
    kind: str = typer.Option("*", "--kind", help="request kind, or * for any"),
    jurisdiction: str = typer.Option("*", "--jurisdiction", help="e.g. US-CA, or * for any"),
    as_json: bool = JsonOpt,
) -> None:
    """Set which methods and level a tenant needs for a request kind and jurisdiction."""
    try:
        parsed = json.loads(rules)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"the rules are not valid JSON: {err}") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("the rules must be a JSON object")
    saved = verify_policy.set_policy(tenant, kind, jurisdiction, parsed, "cli")
    emit_json(saved.model_dump(mode="json")) if as_json else console.print("policy saved")


@verify_app.command("risk")
@handle_errors
def risk(
    request_id: str,
    signal: list[str] = typer.Option(
        ..., "--signal", help="identity_mismatch, address_differs, third_party"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Report risk signals on a request; its required level rises."""
    done = verify_policy.report_signals(request_id, signal, "cli", None)
    emit_json(done) if as_json else console.print(f"required level now {done.required_level}")


@verify_app.command("evidence")
@handle_errors
def evidence(request_id: str, as_json: bool = JsonOpt) -> None:
    """The request's verification evidence: method, time, level and matched points (no values)."""
    done = verify_policy.progress(request_id, evidence=True)
    if as_json:
        emit_json(done)
        return
    console.print(f"{done.state}: level {done.achieved_level} of {done.required_level} needed")
    for e in done.evidence:
        console.print(
            f"  {e['at'][:19]} {e['method']} level {e['level']} "
            f"points {','.join(e['points']) or '-'} by {e['actor']}",
            highlight=False,
        )


@verify_app.command("enrol-totp")
@handle_errors
def enrol_totp(request_id: str, as_json: bool = JsonOpt) -> None:
    """Start authenticator enrolment for the account on a verified request (prints the URI)."""
    done = verify_facts.enrol(request_id, None, "cli")
    emit_json(done) if as_json else console.print(done.uri, highlight=False)
