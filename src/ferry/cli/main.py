"""``ferry``: the command line."""

from __future__ import annotations

import typer
import uvicorn

from ferry.cli.clock import jurisdictions_app, register, sla_app
from ferry.cli.consent import consent_app, device_export
from ferry.cli.output import JsonOpt, console, emit_json, handle_errors
from ferry.cli.package import audit_app, package_app
from ferry.cli.recipient import (
    deliver,
    deliveries_of,
    delivery_policy,
    pull_link,
    purge,
    recipient_app,
)
from ferry.cli.request import request_app
from ferry.cli.tenant import apikey_app, system_app, tenant_app
from ferry.cli.verify import verify_app
from ferry.services import clock as clock_service
from ferry.services import demo as demo_service
from ferry.services.scheduler import sla_ticker, sweep_ticker
from ferry.settings import get_settings
from ferry.store.migrate import upgrade

app = typer.Typer(
    help="Ferry: answer people's data-portability requests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(tenant_app, name="tenant")
app.add_typer(apikey_app, name="apikey")
app.add_typer(system_app, name="system")
app.add_typer(request_app, name="request")
app.add_typer(package_app, name="package")
app.add_typer(audit_app, name="audit")
app.add_typer(verify_app, name="verify")
app.add_typer(sla_app, name="sla")
app.add_typer(jurisdictions_app, name="jurisdictions")
register(request_app)
app.add_typer(recipient_app, name="recipient")
app.add_typer(consent_app, name="consent")
request_app.command("deliver")(deliver)
request_app.command("pull-link")(pull_link)
request_app.command("deliveries")(deliveries_of)
package_app.command("purge")(purge)
package_app.command("device")(device_export)
tenant_app.command("delivery")(delivery_policy)


@app.command()
@handle_errors
def init() -> None:
    """Create or migrate the store."""
    upgrade()
    console.print(f"store ready: {get_settings().db_url}", highlight=False)


@app.command()
@handle_errors
def serve(
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port"),
    sla_tick: int = typer.Option(
        300, "--sla-tick", min=0, help="seconds between SLA reminder passes; 0: leave it to cron"
    ),
    collect_every: int | None = typer.Option(
        None,
        "--collect-every",
        min=0,
        help="seconds between sweeps collecting verified requests (default FERRY_COLLECT_EVERY_S;"
        " 0: off). Off when FERRY_BROKER_URL is set: `ferry worker --beat` sweeps then.",
    ),
) -> None:
    """Serve the REST API and the portal (and run the SLA reminders in-process)."""
    run_server(host, port, sla_tick, collect_every)


def run_server(
    host: str | None, port: int | None, sla_tick: int, collect_every: int | None
) -> None:
    """``ferry serve`` as a plain function (``ferry demo`` calls it too): the schedulers on
    daemon threads, then uvicorn until it stops."""
    settings = get_settings()
    upgrade()
    sweep_s = settings.collect_every_s if collect_every is None else collect_every
    tickers = []
    if sla_tick > 0:
        tickers.append(sla_ticker(sla_tick).start())
    if sweep_s > 0 and not settings.broker_url:
        tickers.append(sweep_ticker(sweep_s).start())
    try:
        uvicorn.run(
            "ferry.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
        )
    finally:
        for ticker in tickers:
            ticker.stop()


@app.command()
@handle_errors
def worker(
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, help="job processes"),
    beat: bool = typer.Option(
        False, "--beat", help="also run the schedule (SLA tick, collection sweep): one worker only"
    ),
    sla_tick: int = typer.Option(300, "--sla-tick", min=0, help="with --beat: seconds; 0: off"),
    collect_every: int | None = typer.Option(
        None,
        "--collect-every",
        min=0,
        help="with --beat: seconds (default FERRY_COLLECT_EVERY_S); 0: off",
    ),
    loglevel: str = typer.Option("info", "--loglevel"),
) -> None:
    """Run background jobs from the broker (FERRY_BROKER_URL: redis://… or amqp://…)."""
    settings = get_settings()
    if not settings.broker_url:
        console.print(
            "[red]error:[/red] set FERRY_BROKER_URL (redis://HOST:6379/0 or "
            "amqp://USER:PASS@HOST:5672//) to run a worker; without one, `ferry serve` runs "
            "jobs in-process"
        )
        raise typer.Exit(2)
    from ferry.worker.celery_app import make_app

    sweep_s = settings.collect_every_s if collect_every is None else collect_every
    celery = make_app(settings.broker_url, settings.broker_queue, sla_tick, sweep_s)
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={settings.broker_queue}",
        "--hostname=ferry@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", f"--schedule={settings.var_dir / 'celerybeat-schedule'}"]
    celery.worker_main(argv)


@app.command()
@handle_errors
def demo(
    customers: int = typer.Option(3000, "--customers", help="size of the demo shop"),
    no_serve: bool = typer.Option(False, "--no-serve", help="seed only"),
    as_json: bool = JsonOpt,
) -> None:
    """Seed tenant `acme` with a demo shop database, then serve."""
    setup = demo_service.seed(customers)
    if as_json:
        emit_json(setup)
    else:
        person = setup.sample_emails[0]
        console.print(
            f"""
[bold]Ferry demo is ready.[/bold]
  portal       {setup.portal_url}   (ask for your data as [bold]{person}[/bold])
  outbox       {setup.outbox}   (codes and notices land here as .eml files)
  API docs     {get_settings().public_url}/docs
  tenant key   {setup.api_key}
  admin key    {setup.admin_key}
  try it       ferry request submit acme --identity email={person}
               ferry request verify ID --method agent --note "called the person back"
               ferry request run ID && ferry package fetch ID -o data.zip
""",
            highlight=False,
            soft_wrap=True,
        )
    if not no_serve:
        run_server(None, None, 300, None)


@app.command()
@handle_errors
def deadline(
    jurisdiction: str = typer.Option(..., "--jurisdiction", help="e.g. EU-DE, GB, US-CA"),
    received: str = typer.Option(
        ...,
        "--received",
        help="YYYY-MM-DD, or YYYY-MM-DDTHH:MM (local to --tz, unless it has an offset)",
    ),
    tz: str = typer.Option("UTC", "--tz", help="the tenant's time zone, e.g. Europe/Berlin"),
    as_json: bool = JsonOpt,
) -> None:
    """When a request received at a moment must be answered, at the latest after extension."""
    found = clock_service.deadline(jurisdiction, received, tz)
    if as_json:
        emit_json(found)
        return
    console.print(
        f"{found.law} ({found.jurisdiction}), received {found.received} ({found.timezone})\n"
        f"  due             {found.due}{'' if found.statutory else ' (internal target)'}\n"
        f"  extended due    {found.extended_due or 'no extension'}\n"
        f"  acknowledge by  {found.acknowledge_by or 'no acknowledgement deadline'}\n"
        f"  rule            {found.rule}",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":
    app()
