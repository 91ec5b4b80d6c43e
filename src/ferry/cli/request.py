"""ferry request …"""

from __future__ import annotations

from datetime import date

import typer
from rich.table import Table

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity, Scope
from ferry.services import collection, requests, verification
from ferry.services.views import RequestView

request_app = typer.Typer(help="Data requests.", no_args_is_help=True)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _date(value: str | None, what: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a date like 2026-01-31") from None


def _print(view: RequestView) -> None:
    console.print(
        f"[bold]{view.id}[/bold]  {view.kind}  [cyan]{view.state}[/cyan]"
        f"{'  [red]verification locked[/red]' if view.verification_locked else ''}"
    )
    console.print(
        f"  tenant {view.tenant}, {view.jurisdiction}, received "
        f"{view.received_at:%Y-%m-%d %H:%M} UTC, due {view.due_date}"
    )
    if view.failure:
        console.print(f"  [red]failure:[/red] {view.failure}", highlight=False)
    if view.package:
        console.print(f"  package {view.package.size} bytes, sha256 {view.package.sha256}")
        if view.package.signed_by:
            console.print(f"  signed by key {view.package.signed_by}")
        if view.package.redactions:
            taken = ", ".join(f"{k} {v}" for k, v in view.package.redactions.items())
            console.print(f"  redacted: {taken} (`ferry package redactions ID` shows them)")
    for e in view.events:
        console.print(
            f"  [dim]#{e['seq']} {e['at'][:19]} {e['actor']}[/dim] {e['action']}", highlight=False
        )


@request_app.command("submit")
@handle_errors
def submit(
    tenant: str,
    kind: str = typer.Option("access", "--kind", help="access, transfer, device, consent-share"),
    identity: list[str] = typer.Option(..., "--identity", help="TYPE=VALUE, e.g. email=a@b.org"),
    jurisdiction: str | None = typer.Option(None, "--jurisdiction"),
    categories: str | None = typer.Option(None, "--categories", help="comma-separated"),
    systems: str | None = typer.Option(None, "--systems", help="comma-separated"),
    since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD"),
    until: str | None = typer.Option(None, "--until", help="YYYY-MM-DD"),
    formats: str | None = typer.Option(
        None, "--format", help="comma-separated: json,csv,xml,html,vcard,ical (tenant default)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Take a request in (an agent entering it for the person)."""
    scope = Scope(_csv(categories), _csv(systems), _date(since, "--since"), _date(until, "--until"))
    view = requests.submit(
        tenant,
        kind,
        [Identity.parse_pair(i) for i in identity],
        jurisdiction=jurisdiction,
        scope=scope,
        channel="cli",
        actor="cli",
        formats=formats,
    )
    emit_json(view) if as_json else _print(view)


@request_app.command("verify")
@handle_errors
def verify(
    request_id: str,
    method: str = typer.Option(..., "--method", help="email-code or agent"),
    code: str | None = typer.Option(None, "--code", help="the code the person received"),
    note: str | None = typer.Option(None, "--note", help="how the agent verified the person"),
    agent: str = typer.Option("cli", "--agent", help="who verified (with --method agent)"),
    as_json: bool = JsonOpt,
) -> None:
    """Verify the person: the code they received, or an agent's attestation."""
    if method == "email-code":
        if not code:
            raise InvalidInput("--method email-code needs --code CODE")
        verification.check_code(request_id, code)
    elif method == "agent":
        if not note:
            raise InvalidInput("--method agent needs --note TEXT saying how you verified")
        verification.attest(request_id, agent, note)
    else:
        raise InvalidInput(f"unknown method {method!r}; use email-code or agent")
    view = requests.show(request_id, with_events=False)
    emit_json(view) if as_json else _print(view)


@request_app.command("run")
@handle_errors
def run(
    request_id: str,
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="the embedded default always runs in this process"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Collect the person's data from every system and build the package."""
    view = collection.run(request_id, "cli")
    emit_json(view) if as_json else _print(view)
    if view.state == "failed":
        raise typer.Exit(1)


@request_app.command("approve")
@handle_errors
def approve(request_id: str, as_json: bool = JsonOpt) -> None:
    """Release a reviewed package to the person."""
    view = requests.approve(request_id, "cli")
    emit_json(view) if as_json else _print(view)


@request_app.command("show")
@handle_errors
def show(request_id: str, as_json: bool = JsonOpt) -> None:
    """One request with its audit events."""
    view = requests.show(request_id)
    emit_json(view) if as_json else _print(view)


@request_app.command("list")
@handle_errors
def list_(
    tenant: str,
    state: str | None = typer.Option(None, "--state"),
    overdue: bool = typer.Option(False, "--overdue", help="only those past their due date"),
    as_json: bool = JsonOpt,
) -> None:
    """A tenant's requests, soonest due first."""
    found = requests.list_requests(tenant, state, overdue)
    if as_json:
        emit_json(found)
        return
    table = Table("id", "kind", "state", "jurisdiction", "due")
    for v in found:
        state_text = v.state + (" (locked)" if v.verification_locked else "")
        table.add_row(v.id, v.kind, state_text, v.jurisdiction, v.due_date.isoformat())
    console.print(table)
