"""ferry tenant …, ferry apikey …, ferry system …"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.services import scan, systems, tenants

tenant_app = typer.Typer(help="Client companies (tenants).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for client systems and admins.", no_args_is_help=True)
system_app = typer.Typer(help="A client's systems holding personal data.", no_args_is_help=True)


@tenant_app.command("create")
@handle_errors
def tenant_create(
    slug: str,
    name: str = typer.Option(..., "--name", help="the client's name as people know it"),
    jurisdiction: list[str] = typer.Option(None, "--jurisdiction", help="e.g. EU-DE, GB, US-CA"),
    review: bool = typer.Option(False, "--review/--no-review", help="4-eyes review before release"),
    agent_email: str | None = typer.Option(None, "--agent-email", help="where alerts go"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a tenant."""
    view = tenants.create_tenant(
        slug,
        name,
        jurisdiction or None,
        review_required=review,
        agent_email=agent_email,
        actor="cli",
    )
    if as_json:
        emit_json(view)
    else:
        console.print(f"created tenant [bold]{view.slug}[/bold] ({', '.join(view.jurisdictions)})")


@tenant_app.command("list")
@handle_errors
def tenant_list(as_json: bool = JsonOpt) -> None:
    """List tenants."""
    found = tenants.list_tenants()
    if as_json:
        emit_json(found)
        return
    table = Table("slug", "name", "jurisdictions", "review")
    for t in found:
        table.add_row(
            t.slug, escape(t.name), ", ".join(t.jurisdictions), "yes" if t.review_required else "no"
        )
    console.print(table)


@apikey_app.command("create")
@handle_errors
def apikey_create(
    tenant: str | None = typer.Argument(None, help="tenant slug (omit with --admin)"),
    name: str = typer.Option(..., "--name", help="who or what uses the key"),
    admin: bool = typer.Option(False, "--admin", help="a BPO admin key (may create tenants)"),
    role: str = typer.Option("agent", "--role", help="agent or supervisor (may attest identity)"),
    as_json: bool = JsonOpt,
) -> None:
    """Make an API key. It is printed once and stored only as a hash."""
    if bool(tenant) == admin:
        raise InvalidInput("give a TENANT, or --admin for a BPO admin key (not both)")
    key = tenants.create_api_key(None if admin else tenant, name, actor="cli", role=role)
    if as_json:
        emit_json({"key": key, "tenant": tenant, "name": name})
    else:
        console.print(key, highlight=False)
        console.print("[dim]Store it now: it is not shown again.[/dim]")


@system_app.command("add")
@handle_errors
def system_add(
    tenant: str,
    name: str,
    url: str = typer.Option(..., "--url", help="a SQLAlchemy URL of the client's database"),
    map_file: Path | None = typer.Option(
        None,
        "--map",
        exists=True,
        dir_okay=False,
        help="data map YAML (Ferry or Fides); "
        "without it the system is scanned and the draft is used",
    ),
    replace: bool = typer.Option(False, "--replace", help="replace a system of the same name"),
    credential: list[str] = typer.Option(
        [], "--credential", help="NAME=VALUE or NAME=env:VAR (stored encrypted; e.g. token=...)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Register a client system with its data map (checked against the system)."""
    view = systems.add_system(
        tenant,
        name,
        url,
        map_file.read_text(encoding="utf-8") if map_file else None,
        actor="cli",
        replace=replace,
        credentials=parse_credentials(credential),
    )
    if as_json:
        emit_json(view)
    else:
        console.print(f"added system [bold]{escape(name)}[/bold]: {len(view.datasets)} datasets")
        for warning in view.warnings:
            console.print(f"  [yellow]warning:[/yellow] {escape(warning)}", highlight=False)


@system_app.command("test")
@handle_errors
def system_test(tenant: str, name: str, as_json: bool = JsonOpt) -> None:
    """Check that the system answers and its data map still matches it."""
    view = systems.test_system(tenant, name)
    if as_json:
        emit_json(view)
    elif view.problems:
        console.print(f"[red]{escape(name)}: {len(view.problems)} problems[/red]")
        for p in view.problems:
            console.print(f"  - {escape(p)}", highlight=False)
    else:
        console.print(f"[green]{escape(name)}: ok[/green] ({len(view.datasets)} datasets)")
    if view.problems:
        raise typer.Exit(1)


def parse_credentials(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` or ``NAME=env:VAR`` (read from the environment, kept out of shell history)."""
    found = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput("--credential must look like NAME=VALUE or NAME=env:VAR")
        if value.startswith("env:"):
            var = value.removeprefix("env:")
            if var not in os.environ:
                raise InvalidInput(f"--credential {name}: environment variable {var} is not set")
            value = os.environ[var]
        found[name.strip()] = value
    return found


@system_app.command("scan")
@handle_errors
def system_scan(
    tenant: str,
    name: str,
    url: str | None = typer.Option(
        None, "--url", help="scan this URL instead of the registered one"
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the draft map here"),
    as_json: bool = JsonOpt,
) -> None:
    """Draft a data map from the schema and sampled values (for a person to review)."""
    view = scan.scan_system(tenant, name, url)
    if output is not None:
        output.write_text(view.map_text, encoding="utf-8")
    if as_json:
        emit_json(view)
        return
    if output is None:
        console.print(view.map_text, highlight=False, markup=False)
    else:
        console.print(f"draft map for {name}: {len(view.datasets)} datasets -> {output}")
    for warning in view.warnings:
        console.print(f"  [yellow]warning:[/yellow] {warning}", highlight=False)
