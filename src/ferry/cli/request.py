"""ferry request …"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ferry.cli import verify as verify_cli
from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity, Scope
from ferry.services import bulk, collection, gather, manual, requests, sla
from ferry.services.views import RequestView

request_app = typer.Typer(help="Data requests.", no_args_is_help=True)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _date(value: str | None, what: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a date like 2026-01-31") from None


def _clock_line(c: dict[str, Any]) -> str:
    parts = [f"{c['days_left']} days left" + (" [red]OVERDUE[/red]" if c["overdue"] else "")]
    if c["paused"]:
        parts.append(f"paused ({c['pause_reason']})")
    if c["paused_days"]:
        parts.append(f"{c['paused_days']} days paused")
    if c["extended"]:
        parts.append(f"extended to {c['extended_until']}: {c['extension_reason']}")
    if c["over_limit"]:
        parts.append(f"over limit: {c['over_limit']}")
    return ", ".join(parts)


def _print(view: RequestView) -> None:
    console.print(
        f"[bold]{view.id}[/bold]  {view.kind}  [cyan]{view.state}[/cyan]"
        f"{'  [red]verification locked[/red]' if view.verification_locked else ''}"
    )
    console.print(
        f"  tenant {view.tenant}, {view.jurisdiction}, received "
        f"{view.received_at:%Y-%m-%d %H:%M} UTC, due {view.due_date}"
    )
    if view.clock:
        console.print("  " + _clock_line(view.clock), highlight=False)
    if view.failure:
        console.print(f"  [red]failure:[/red] {escape(view.failure)}", highlight=False)
    for t in view.waiting_for:
        late = " [red]OVERDUE[/red]" if t["overdue"] else ""
        console.print(
            f"  [yellow]waiting for upload:[/yellow] {escape(t['system'])} from "
            f"{escape(t['owner'] or 'no owner set')}, due {t['due_date']}{late} "
            "(`ferry request tasks ID`)",
            highlight=False,
        )
    if view.package:
        console.print(f"  package {view.package.size} bytes, sha256 {view.package.sha256}")
        if view.package.signed_by:
            console.print(f"  signed by key {view.package.signed_by}")
        if view.package.redactions:
            taken = ", ".join(f"{k} {v}" for k, v in view.package.redactions.items())
            console.print(f"  redacted: {taken} (`ferry package redactions ID` shows them)")
    for e in view.events:
        console.print(
            f"  [dim]#{e['seq']} {e['at'][:19]} {escape(e['actor'])}[/dim] {escape(e['action'])}",
            highlight=False,
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
    recipient: str | None = typer.Option(None, "--recipient", help="transfer: who receives it"),
    consent: str | None = typer.Option(None, "--consent", help="consent-share: the consent id"),
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
        recipient=recipient,
        consent=consent,
        formats=formats,
    )
    emit_json(view) if as_json else _print(view)


@request_app.command("verify")
@handle_errors
def verify(
    request_id: str,
    method: str = typer.Option(..., "--method", help=verify_cli.METHOD_HELP),
    code: str | None = typer.Option(None, "--code", help="the code the person received"),
    token: str | None = typer.Option(None, "--token", help="the magic link's token"),
    point: list[str] = typer.Option(None, "--point", help="knowledge: NAME=VALUE (repeat)"),
    declaration: str | None = typer.Option(None, "--declaration", help="knowledge: signed name"),
    note: str | None = typer.Option(None, "--note", help="how the agent verified the person"),
    agent: str = typer.Option("cli", "--agent", help="who acts (agent, reviewer)"),
    level: int | None = typer.Option(None, "--level", help="agent: level attested (1-3)"),
    send: bool = typer.Option(False, "--send", help="send a new code or link by this method"),
    file: Path | None = typer.Option(None, "--file", help="document or signed permission"),
    document: int | None = typer.Option(None, "--document", help="document id to decide"),
    decision: str | None = typer.Option(None, "--decision", help="document: approve or reject"),
    reason: str = typer.Option("", "--reason", help="document: why"),
    agent_name: str | None = typer.Option(None, "--agent-name", help="authorized agent's name"),
    agent_kind: str = typer.Option("person", "--agent-kind", help="person or company"),
    signed_by: str | None = typer.Option(None, "--signed-by", help="who signed the permission"),
    signed_on: str | None = typer.Option(None, "--signed-on", help="YYYY-MM-DD"),
    as_json: bool = JsonOpt,
) -> None:
    """Verify the person by METHOD (a code, data points, a document, an agent …)."""
    verify_cli.run(
        verify_cli.VerifyArgs(
            request_id,
            method,
            code,
            token,
            point,
            declaration,
            note,
            agent,
            level,
            send,
            file,
            document,
            decision,
            reason,
            agent_name,
            agent_kind,
            signed_by,
            signed_on,
        )
    )
    view = requests.show(request_id, with_events=False)
    emit_json(view) if as_json else _print(view)


@request_app.command("run")
@handle_errors
def run(
    request_id: str | None = typer.Argument(None, help="the request (or --all TENANT)"),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="the embedded default always runs in this process"
    ),
    all_tenant: str | None = typer.Option(
        None, "--all", help="TENANT: collect all its verified requests together (bulk)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Collect the person's data from every system and build the package."""
    if all_tenant is not None:
        run_all(all_tenant, as_json)
        return
    if request_id is None:
        raise InvalidInput("give a request ID, or --all TENANT")
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
    due_within: str | None = typer.Option(
        None, "--due-within", help="e.g. 7d: open requests due that soon (overdue included)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """A tenant's requests, soonest due first."""
    found = requests.list_requests(tenant, state, overdue)
    if due_within or overdue:  # counted in the tenant's time zone; overdue ones included
        days = sla.parse_days(due_within) if due_within else None
        found = sla.due_within(tenant, days) if days is not None else sla.overdue(tenant)
        found = [v for v in found if not state or v.state == state]
    if as_json:
        emit_json(found)
        return
    table = Table("id", "kind", "state", "jurisdiction", "due", "waiting for")
    for v in found:
        state_text = v.state + (" (locked)" if v.verification_locked else "")
        waits = ", ".join(
            f"{t['system']} upload due {t['due_date']}" + (" OVERDUE" if t["overdue"] else "")
            for t in v.waiting_for
        )
        table.add_row(
            v.id, escape(v.kind), state_text, v.jurisdiction, v.due_date.isoformat(), escape(waits)
        )
    console.print(table)


def run_all(tenant: str, as_json: bool) -> None:
    result = bulk.run_all(tenant, "cli")
    if as_json:
        emit_json(result)
    else:
        waits = f", {len(result.waiting)} waiting for uploads" if result.waiting else ""
        console.print(f"{len(result.completed)} packaged, {len(result.failed)} failed{waits}")
        for request_id in result.waiting:
            console.print(f"  {request_id} waiting (`ferry request tasks ID`)", highlight=False)
        for request_id, reason in result.failed.items():
            console.print(f"  [red]{request_id}[/red] {reason}", highlight=False)
    if result.failed:
        raise typer.Exit(1)


@request_app.command("gaps")
@handle_errors
def gaps(request_id: str, as_json: bool = JsonOpt) -> None:
    """How each system went in the request's last collection (the gap report)."""
    requests.show(request_id, with_events=False)
    found = gather.show_report(request_id)
    if as_json:
        emit_json(found)
        return
    table = Table("system", "status", "attempts", "rows", "problem")
    for g in found:
        problem = "; ".join([g.error or "", *g.warnings]).strip("; ")
        table.add_row(g.system, g.status, str(g.attempts), str(g.rows), problem)
    console.print(table)


@request_app.command("tasks")
@handle_errors
def tasks(request_id: str, as_json: bool = JsonOpt) -> None:
    """Upload tasks for the request's manual systems (owner, due date, what was received)."""
    found = manual.tasks(request_id)
    if as_json:
        emit_json(found)
        return
    table = Table("system", "owner", "state", "due", "received")
    for t in found:
        state = "overdue" if t.overdue else t.state
        received = ", ".join(f"{d}: {n} rows" for d, n in t.uploaded.items())
        table.add_row(t.system, t.owner or "-", state, t.due_date.isoformat(), received or "-")
    console.print(table)


@request_app.command("deliver-partial")
@handle_errors
def deliver_partial(
    request_id: str,
    reason: str = typer.Option(..., "--reason", help="why it goes out without the missing systems"),
    as_json: bool = JsonOpt,
) -> None:
    """Package what was collected, stating in the package which systems are missing."""
    view = bulk.deliver_partial(request_id, "cli", reason)
    emit_json(view) if as_json else _print(view)
