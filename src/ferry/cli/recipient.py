"""ferry recipient …, ferry request deliver, ferry package purge, ferry tenant delivery."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.services import delivery, recipients, retention, transfer_pull

recipient_app = typer.Typer(help="Receiving providers a tenant can send to.", no_args_is_help=True)


@recipient_app.command("add")
@handle_errors
def add(
    tenant: str,
    name: str,
    sftp: str | None = typer.Option(None, "--sftp", help="sftp://USER@HOST:PORT/PATH"),
    host_key: str | None = typer.Option(None, "--host-key", help='"ssh-ed25519 AAAA…"'),
    key_file: str | None = typer.Option(None, "--key-file", help="our private key for SFTP"),
    https: str | None = typer.Option(None, "--https", help="the recipient's transfer URL"),
    age_recipient: str | None = typer.Option(None, "--age-recipient", help="age1…"),
    country: str | None = typer.Option(None, "--country", help="ISO code, e.g. DE"),
    as_json: bool = JsonOpt,
) -> None:
    """Register a recipient: an SFTP server or an HTTPS transfer endpoint."""
    if bool(sftp) == bool(https):
        raise InvalidInput("give exactly one of --sftp URL or --https URL")
    config: dict[str, Any]
    if sftp:
        if not host_key or not key_file:
            raise InvalidInput("--sftp needs --host-key (pinned) and --key-file")
        config = {"url": sftp, "host_key": host_key, "key_file": key_file}
        channel = "sftp"
    else:
        if not age_recipient:
            raise InvalidInput("--https needs --age-recipient age1… (the package is encrypted)")
        config = {"url": https, "age_recipient": age_recipient}
        channel = "https"
    view = recipients.add(tenant, name, channel, config, country, actor="cli")
    if as_json:
        emit_json(view)
    else:
        console.print(f"recipient {view.name}: {view.channel} {view.config['url']}")


@recipient_app.command("list")
@handle_errors
def list_(tenant: str, as_json: bool = JsonOpt) -> None:
    """A tenant's recipients."""
    found = recipients.list_for(tenant)
    if as_json:
        emit_json(found)
        return
    table = Table("name", "channel", "endpoint", "country")
    for r in found:
        table.add_row(r.name, r.channel, str(r.config.get("url")), r.country or "-")
    console.print(table)


@handle_errors
def deliver(request_id: str, as_json: bool = JsonOpt) -> None:
    """Send a ready package to the request's recipient (retries; never sends twice)."""
    view = delivery.deliver(request_id, "cli")
    if as_json:
        emit_json(view)
    else:
        console.print(f"{view.state}: {view.channel} to {view.recipient} after {view.attempts}")
        if view.error:
            console.print(f"  [red]{view.error}[/red]", highlight=False)
    if view.state != "delivered":
        raise typer.Exit(1)


@handle_errors
def purge(
    tenant: str | None = typer.Option(None, "--tenant", help="only this tenant"),
    as_json: bool = JsonOpt,
) -> None:
    """Remove packages older than their tenant's retention period (recorded in the trail)."""
    done = retention.purge_expired(tenant)
    if as_json:
        emit_json(done)
    else:
        console.print(f"purged {len(done)} package(s)")


@handle_errors
def delivery_policy(
    tenant: str,
    link_hours: int | None = typer.Option(None, "--link-hours", help="download link lifetime"),
    max_downloads: int | None = typer.Option(None, "--max-downloads"),
    retention_days: int | None = typer.Option(None, "--retention-days"),
    as_json: bool = JsonOpt,
) -> None:
    """Show or set a tenant's delivery policy (link lifetime, download limit, retention)."""
    if link_hours is None and max_downloads is None and retention_days is None:
        policy = recipients.get_policy(tenant)
    else:
        policy = recipients.set_policy(
            tenant,
            link_ttl_hours=link_hours,
            max_downloads=max_downloads,
            retention_days=retention_days,
            actor="cli",
        )
    if as_json:
        emit_json(policy)
    else:
        console.print(
            f"links last {policy.link_ttl_hours} h, {policy.max_downloads} downloads, "
            f"packages kept {policy.retention_days} days"
        )


@handle_errors
def pull_link(request_id: str, as_json: bool = JsonOpt) -> None:
    """A signed, expiring URL the request's HTTPS recipient can fetch the package from."""
    link = transfer_pull.pull_link(request_id, "cli")
    if as_json:
        emit_json(link)
    else:
        console.print(f"{link.url}\n  expires {link.expires_at:%Y-%m-%d %H:%M} UTC", soft_wrap=True)


@handle_errors
def deliveries_of(request_id: str, as_json: bool = JsonOpt) -> None:
    """Every delivery of a request, with its receipt or last error."""
    found = delivery.list_for(request_id)
    if as_json:
        emit_json(found)
        return
    table = Table("channel", "recipient", "state", "attempts", "receipt / error")
    for d in found:
        detail = d.error or ", ".join(f"{k}={v}" for k, v in d.receipt.items() if k != "ack")
        table.add_row(d.channel, d.recipient or "-", d.state, str(d.attempts), detail[:80])
    console.print(table)
