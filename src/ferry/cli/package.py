"""ferry package …, ferry audit …"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.services import audit, packages

package_app = typer.Typer(help="Packages (what the person receives).", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@package_app.command("fetch")
@handle_errors
def fetch(request_id: str, out: Path = typer.Option(..., "-o", "--output")) -> None:
    """Copy a request's package to FILE."""
    packages.fetch(request_id, out, "cli")
    console.print(f"wrote {escape(str(out))}", highlight=False)


@package_app.command("verify")
@handle_errors
def verify(file: Path, as_json: bool = JsonOpt) -> None:
    """Check a package offline: every file is listed and matches its SHA-256."""
    report = packages.verify_file(file)
    if as_json:
        emit_json(report)
    elif report.ok:
        console.print(
            f"[green]ok[/green]: {escape(str(file))} is complete and untouched "
            f"({report.files_checked} files checked)"
        )
    else:
        console.print(f"[red]NOT OK[/red]: {escape(str(file))}", highlight=False)
        for problem in report.problems:
            console.print(f"  - {escape(problem)}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("verify")
@handle_errors
def audit_verify(tenant: str, as_json: bool = JsonOpt) -> None:
    """Recompute the tenant's hash chain and report the first event that does not match."""
    report = audit.verify_tenant(tenant)
    if as_json:
        emit_json(report)
    elif report.ok:
        console.print(f"[green]intact[/green]: {report.events} events, head {report.head[:16]}…")
    else:
        console.print(
            f"[red]BROKEN[/red] at event #{report.broken_at}: {escape(report.problem or '')}",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)
