"""ferry request extend|pause|resume|reject|clock|transfer-check; ferry sla; ferry jurisdictions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.jurisdictions import known_codes, rule_for
from ferry.jurisdictions.docs import render
from ferry.jurisdictions.schema import RuleFile
from ferry.services import clock, extension, manual, rejection, sla, transfers

sla_app = typer.Typer(help="Internal SLA, reminders and escalation.", no_args_is_help=True)
jurisdictions_app = typer.Typer(help="The rule files.", no_args_is_help=True)


def _print_clock(view: dict[str, Any]) -> None:
    console.print(
        f"[bold]{view['id']}[/bold] {view['state']}  {view['jurisdiction']} ({view['law']})  "
        f"due [bold]{view['due']}[/bold], {view['days_left']} days left"
        f"{'  [red]OVERDUE[/red]' if view['overdue'] else ''}",
        highlight=False,
    )
    extra = [f"statutory {view['statutory_due']}", f"time zone {view['timezone']}"]
    if view["paused"]:
        extra.append(f"paused ({view['pause_reason']})")
    if view["paused_days"]:
        extra.append(f"{view['paused_days']} days paused")
    if view["extended"]:
        extra.append(f"extended to {view['extended_until']}: {view['extension_reason']}")
    if view["over_limit"]:
        extra.append(f"over limit: {view['over_limit']}")
    console.print("  " + "; ".join(extra), highlight=False)
    if "notice" in view:
        console.print(view["notice"], highlight=False)


def _show(view: dict[str, Any], as_json: bool) -> None:
    emit_json(view) if as_json else _print_clock(view)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise InvalidInput(f"--until {value!r} is not a date like 2026-03-31") from None


def register(request_app: typer.Typer) -> None:
    """Add the clock commands to ``ferry request``."""
    request_app.command("extend")(handle_errors(extend))
    request_app.command("pause")(handle_errors(pause))
    request_app.command("resume")(handle_errors(resume))
    request_app.command("reject")(handle_errors(reject))
    request_app.command("clock")(handle_errors(show_clock))
    request_app.command("transfer-check")(handle_errors(transfer_check))
    request_app.command("acknowledge")(handle_errors(acknowledge))


def acknowledge(
    request_id: str,
    how: str = typer.Option(..., "--how", help="how the person was told, e.g. 'letter posted'"),
    agent: str = typer.Option("cli", "--agent"),
    as_json: bool = JsonOpt,
) -> None:
    """Record an acknowledgement sent outside Ferry (where no mail could be sent)."""
    _show(clock.acknowledge(request_id, agent, how), as_json)


def extend(
    request_id: str,
    reason: str = typer.Option(
        ..., "--reason", help="why more time is needed (told to the person)"
    ),
    until: str | None = typer.Option(
        None, "--until", help="YYYY-MM-DD; default: the law's maximum"
    ),
    notified: str | None = typer.Option(
        None, "--notified", help="how the person was told, if not by mail"
    ),
    agent: str = typer.Option("cli", "--agent"),
    as_json: bool = JsonOpt,
) -> None:
    """Extend the deadline once, within the law's length, telling the person why."""
    _show(
        extension.extend(request_id, agent, reason, until=_date(until), notified=notified), as_json
    )


def pause(
    request_id: str,
    reason: str = typer.Option(..., "--reason", help="identity, clarification or fee"),
    note: str = typer.Option("", "--note", help="what you asked the person for"),
    agent: str = typer.Option("cli", "--agent"),
    as_json: bool = JsonOpt,
) -> None:
    """Stop the clock while waiting for the person (where the law allows it)."""
    _show(clock.pause(request_id, agent, reason, note), as_json)


def resume(
    request_id: str, agent: str = typer.Option("cli", "--agent"), as_json: bool = JsonOpt
) -> None:
    """Restart the clock; the due date moves by the paused days."""
    _show(clock.resume(request_id, agent), as_json)


def reject(
    request_id: str,
    reason: str = typer.Option(..., "--reason", help="told to the person"),
    unfounded: bool = typer.Option(False, "--unfounded", help="manifestly unfounded or excessive"),
    over_limit: bool = typer.Option(False, "--over-limit", help="beyond the free-request limit"),
    agent: str = typer.Option("cli", "--agent"),
    as_json: bool = JsonOpt,
) -> None:
    """Refuse a request with a reason; the person is told their right to complain."""
    if unfounded and over_limit:
        raise InvalidInput("give one ground: --unfounded or --over-limit")
    ground = "unfounded" if unfounded else "over_limit" if over_limit else "other"
    _show(rejection.reject(request_id, agent, reason, ground=ground), as_json)


def show_clock(request_id: str, as_json: bool = JsonOpt) -> None:
    """Days left, pauses, extension and limits of one request."""
    _show(clock.show(request_id), as_json)


def transfer_check(
    request_id: str,
    country: str = typer.Option(..., "--country", help="recipient's country, ISO code"),
    safeguard: str | None = typer.Option(None, "--safeguard", help="e.g. 'SCCs signed 2026-01-10'"),
    agent: str = typer.Option("cli", "--agent"),
    as_json: bool = JsonOpt,
) -> None:
    """May this request's data go to a recipient in COUNTRY? Records the basis."""
    found = transfers.check(request_id, country, safeguard, agent)
    if as_json:
        emit_json(found)
    else:
        console.print(f"{found.outcome}: {found.basis} ({found.citation})", highlight=False)


def _print_sla(s: sla.SlaSettings) -> None:
    console.print(
        f"{s.tenant}: time zone {s.timezone}, internal target "
        f"{f'{s.internal_days} days' if s.internal_days else 'the statutory date'}, reminders at "
        f"{', '.join(f'{f:.0%}' for f in s.reminders) or 'none'}, escalation at "
        f"{s.escalate_at:.0%} to {s.supervisor_email or 'the agent address'}",
        highlight=False,
    )


@sla_app.command("set")
@handle_errors
def sla_set(
    tenant: str,
    timezone: str = typer.Option("UTC", "--timezone", help="IANA zone, e.g. Europe/Berlin"),
    internal_days: int | None = typer.Option(None, "--internal-days", help="e.g. 20"),
    reminders: str = typer.Option("0.5,0.75,0.9", "--reminders", help="fractions of the period"),
    escalate_at: float = typer.Option(1.0, "--escalate-at", help="fraction; 1 = at the target"),
    supervisor: str | None = typer.Option(None, "--supervisor", help="email for escalations"),
    as_json: bool = JsonOpt,
) -> None:
    """Set a tenant's time zone, internal target, reminders and escalation."""
    try:
        fractions = [float(f) for f in reminders.split(",") if f.strip()]
    except ValueError:
        raise InvalidInput(f"--reminders {reminders!r} must be fractions like 0.5,0.75") from None
    settings = sla.SlaSettings(tenant, timezone, internal_days, fractions, escalate_at, supervisor)
    found = sla.set_settings(settings, "cli")
    emit_json(found) if as_json else _print_sla(found)


@sla_app.command("show")
@handle_errors
def sla_show(tenant: str, as_json: bool = JsonOpt) -> None:
    found = sla.get_settings(tenant)
    emit_json(found) if as_json else _print_sla(found)


@sla_app.command("tick")
@handle_errors
def sla_tick(as_json: bool = JsonOpt) -> None:
    """Send the reminders, escalations and overdue alerts that are due (run from cron)."""
    report = sla.as_dict(sla.run_due_reminders())
    report["manual_uploads_overdue"] = manual.expire_overdue()
    emit_json(report) if as_json else console.print(report, highlight=False)
    if report["errors"]:
        raise typer.Exit(1)


@jurisdictions_app.command("list")
@handle_errors
def list_codes(as_json: bool = JsonOpt) -> None:
    rows = [(c, rule_for(c).law, rule_for(c).source) for c in known_codes()]
    if as_json:
        emit_json([{"code": c, "law": law, "file": f} for c, law, f in rows])
        return
    table = Table("code", "law", "file")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@jurisdictions_app.command("show")
@handle_errors
def show_rule(code: str) -> None:
    """One jurisdiction's rule, as JSON."""
    rule = rule_for(code)
    emit_json({"code": rule.code, "file": rule.source, **rule.data.model_dump(mode="json")})


@jurisdictions_app.command("doc")
@handle_errors
def doc(output: Path | None = typer.Option(None, "-o", "--output")) -> None:
    """Write docs/jurisdictions.md from the rule files (stdout without -o)."""
    text = render()
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@jurisdictions_app.command("schema")
def schema() -> None:
    """The JSON Schema every rule file must satisfy."""
    typer.echo(json.dumps(RuleFile.model_json_schema(), indent=2))
