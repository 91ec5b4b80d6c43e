"""ferry consent …: consent records for consent-share requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.domain.errors import InvalidInput
from ferry.services import consents, device

consent_app = typer.Typer(help="Consent records (consent-share requests).", no_args_is_help=True)


def _when(value: str) -> datetime:
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--expires {value!r} is not a date like 2027-06-30") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _print(view: consents.ConsentView) -> None:
    state = "in force" if view.active else ("revoked" if view.revoked_at else "expired")
    console.print(f"[bold]{view.id}[/bold]  {state}  share with {view.recipient}", highlight=False)
    console.print(f"  purpose: {view.purpose}\n  categories: {', '.join(view.categories)}")
    console.print(f"  granted {view.granted_at:%Y-%m-%d}, expires {view.expires_at:%Y-%m-%d}")


@consent_app.command("grant")
@handle_errors
def grant(
    tenant: str,
    subject: str = typer.Option(..., "--subject", help="the person's email address"),
    recipient: str = typer.Option(..., "--recipient"),
    purpose: str = typer.Option(..., "--purpose"),
    categories: str = typer.Option(..., "--categories", help="comma-separated category keys"),
    expires: str = typer.Option(..., "--expires", help="YYYY-MM-DD[THH:MM]"),
    method: str = typer.Option(..., "--method", help=", ".join(consents.METHODS)),
    proof: str = typer.Option(..., "--proof", help="where the record of consent is kept"),
    as_json: bool = JsonOpt,
) -> None:
    """Record a consent the person gave."""
    cats = [c.strip() for c in categories.split(",") if c.strip()]
    view = consents.grant(
        tenant, subject, recipient, purpose, cats, _when(expires), method, proof, "cli"
    )
    emit_json(view) if as_json else _print(view)


@consent_app.command("show")
@handle_errors
def show(consent_id: str, as_json: bool = JsonOpt) -> None:
    view = consents.show(consent_id)
    emit_json(view) if as_json else _print(view)


@consent_app.command("revoke")
@handle_errors
def revoke(consent_id: str, as_json: bool = JsonOpt) -> None:
    """Revoke a consent; shares under it that are not yet delivered are withdrawn."""
    view = consents.revoke(consent_id, "cli")
    emit_json(view) if as_json else _print(view)


@consent_app.command("receipt")
@handle_errors
def receipt(consent_id: str) -> None:
    """Print the consent receipt (JSON)."""
    emit_json(consents.receipt(consent_id))


@consent_app.command("attach")
@handle_errors
def attach(request_id: str, consent_id: str) -> None:
    """Attach the consent a consent-share request runs under (before collection)."""
    consents.attach_to_request(request_id, consent_id, "cli")
    console.print(f"request {request_id} now runs under consent {consent_id}")


@handle_errors
def device_export(
    request_id: str, out: Path = typer.Option(..., "-o", "--output", help="where to write")
) -> None:
    """Write a device request's settings, preferences and activity (ferry-device/1 JSON)."""
    doc = device.export(request_id, "cli")
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"wrote {out}")
