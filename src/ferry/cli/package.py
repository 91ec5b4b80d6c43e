"""ferry package …, ferry audit …"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.markup import escape

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.services import audit, keys, packages, packaging

package_app = typer.Typer(help="Packages (what the person receives).", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@package_app.command("fetch")
@handle_errors
def fetch(
    request_id: str,
    out: Path = typer.Option(..., "-o", "--output"),
    age_recipient: list[str] = typer.Option(
        [], "--age-recipient", help="encrypt for this age X25519 key (age1...); repeatable"
    ),
    age_passphrase: bool = typer.Option(
        False, "--age-passphrase", help="encrypt with a passphrase (asked, or FERRY_AGE_PASSPHRASE)"
    ),
) -> None:
    """Write a request's package to FILE (decrypted, or age-encrypted for delivery)."""
    passphrase = None
    if age_passphrase:
        passphrase = os.environ.get("FERRY_AGE_PASSPHRASE") or typer.prompt(
            "passphrase (send it to the person by another channel)",
            hide_input=True,
            confirmation_prompt=True,
        )
    packages.fetch(request_id, out, "cli", age_recipient, passphrase)
    console.print(f"wrote {escape(str(out))}", highlight=False)


@package_app.command("redactions")
@handle_errors
def redactions(request_id: str, as_json: bool = JsonOpt) -> None:
    """Show the reviewer what was redacted from the package, with context."""
    report = packages.redactions(request_id, "cli")
    if as_json:
        emit_json(report)
        return
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items()) or "nothing"
    console.print(f"redacted: {counts}")
    if report.engine:
        console.print(f"names found by: {report.engine}", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    for item in report.findings:
        where = f"{item['system']}/{item['dataset']}.{item['field']} row {item['row'] + 1}"
        line = f"  {where}: {item['type']} {item['original']!r} in …{item['context']}…"
        console.print(line, highlight=False)


@package_app.command("formats")
@handle_errors
def formats(tenant: str, chosen: str) -> None:
    """Set a tenant's default formats (comma-separated: json,csv,xml,html,vcard,ical)."""
    result = packaging.set_default_formats(tenant, chosen, "cli")
    console.print(f"{tenant}: packages default to {', '.join(result)}")


@package_app.command("people")
@handle_errors
def people(
    tenant: str,
    names: list[str] = typer.Argument(None, help="names of staff or other people to redact"),
    file: Path | None = typer.Option(None, "--file", help="a file with one name per line"),
    replace: bool = typer.Option(False, "--replace", help="replace the list instead of adding"),
) -> None:
    """Names of other people the client's systems know (agents, staff): redacted from free text."""
    given = list(names or [])
    if file is not None:
        given += file.read_text("utf-8").splitlines()
    count = packaging.set_known_people(tenant, given, "cli", replace)
    console.print(f"{tenant}: {count} known names to redact")


@package_app.command("signing-key")
@handle_errors
def signing_key(tenant: str, as_json: bool = JsonOpt) -> None:
    """Print the tenant's public signing key (PEM), for `ferry package verify --key`."""
    found = keys.signing_keys(tenant)
    if as_json:
        emit_json(found)
        return
    for key in found:
        state = "retired" if key.retired_at else "current"
        console.print(f"# key {key.key_id} ({state})", highlight=False)
        console.print(key.pem, highlight=False)


@package_app.command("rotate-key")
@handle_errors
def rotate_key(
    tenant: str,
    purpose: str = typer.Option(
        "signing", "--purpose", help="signing, packages or http (signs transfer requests)"
    ),
) -> None:
    """Retire a tenant's current key; the next package gets a new one (old ones still open)."""
    retired = keys.rotate(tenant, purpose, "cli")
    console.print(f"retired {purpose} key {retired}" if retired else f"no {purpose} key yet")


@package_app.command("verify")
@handle_errors
def verify(
    file: Path,
    key: str | None = typer.Option(
        None, "--key", help="the company's public key (PEM, base64 or hex, or a file)"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check a package offline: complete, every SHA-256 matches, and the signature is valid."""
    report = packages.verify_file(file, key)
    if as_json:
        emit_json(report)
    elif report.ok:
        console.print(
            f"[green]ok[/green]: {escape(str(file))} is complete and untouched "
            f"({report.files_checked} files checked)"
        )
        for note in report.notes:
            console.print(f"  note: {note}", highlight=False)
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
