"""The `flask --app app …` commands: db, dispatch, engage, leads, config."""
from __future__ import annotations

import datetime
import json
import signal
import sys
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup

db_cli = AppGroup("db", help="Database schema.")
dispatch_cli = AppGroup("dispatch", help="The dispatcher (worker mode).")
engage_cli = AppGroup("engage", help="Talk to Engage with the configured credentials.")
leads_cli = AppGroup("leads", help="Inspect and replay leads.")
config_cli = AppGroup("config", help="Check the configuration.")


def _runtime():
    """The Runtime of the current app."""
    return current_app.extensions["leadrelay"]


@db_cli.command("upgrade")
def db_upgrade():
    """Bring the schema up to date (idempotent; the Procfile's release step)."""
    from store import db

    db.upgrade(_runtime().engine)
    click.echo(f"schema at revision {db.current_revision(_runtime().engine)}")


@dispatch_cli.command("run")
def dispatch_run():
    """Run a dispatcher until SIGTERM/SIGINT (stand by while another holds the lease)."""
    from app import start_dispatcher, stop_dispatcher

    app = current_app._get_current_object()
    done = threading.Event()

    def on_signal(signum, _frame):
        """Graceful stop: finish calls in flight, settle, release the lease."""
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    import gc

    gc.freeze()  # long-lived objects out of the collector's scans (shorter pauses)
    thread = start_dispatcher(app)
    import alerts

    alerts.start(app)
    while not done.is_set() and thread.is_alive():
        done.wait(0.5)
    stop_dispatcher(app, timeout=25.0)


def _engage_client():
    """A live (or sandbox) Engage client for one-off commands, token kept in memory."""
    from dispatch.backend import engage_timeouts, live_client, start_sandbox
    from engage.auth import MemoryTokenStore, RingCentralJWTAuth
    from engage.client import EngageClient
    from engage import fake as fake_engage

    settings = _runtime().settings
    timeouts = engage_timeouts(10.0)
    if settings.sandbox:
        fake, server = start_sandbox(settings)
        auth = RingCentralJWTAuth(server.url, server.url, fake_engage.DEFAULT_CLIENT_ID,
                                  fake_engage.DEFAULT_CLIENT_SECRET, fake_engage.DEFAULT_JWT)
        return EngageClient(server.url, fake_engage.DEFAULT_ACCOUNT_ID, auth), True
    return live_client(settings, MemoryTokenStore(), timeouts), False


@engage_cli.command("campaigns")
def engage_campaigns():
    """List dial groups and their campaigns (ids and names), as Engage enumerates them."""
    client, sandbox = _engage_client()
    if sandbox:
        click.echo("SANDBOX: these are the fake Engage's campaigns, seeded from leadrelay.yml")
    for group in client.dial_groups():
        click.echo(f"dial group {group.get('dialGroupId')}: {group.get('dialGroupName')}")
        for campaign in client.campaigns(group.get("dialGroupId")):
            active = "active" if campaign.get("isActive") else "inactive"
            click.echo(f"  campaign {campaign.get('campaignId')}: {campaign.get('campaignName')} ({active})")


@engage_cli.command("check")
def engage_check():
    """Log in, list accounts, and resolve every campaign the config routes to."""
    from engage.campaigns import CampaignDirectory

    client, sandbox = _engage_client()
    click.echo(f"mode: {'sandbox' if sandbox else 'live'}")
    accounts = client.accounts()
    click.echo("accounts: " + ", ".join(f"{a.get('accountId')} ({a.get('accountName')})" for a in accounts))
    directory = CampaignDirectory(client)
    failed = False
    for campaign in _runtime().settings.file.campaigns():
        try:
            click.echo(f"campaign {campaign!r} → {directory.resolve(campaign)}")
        except Exception as exc:
            failed = True
            click.echo(f"campaign {campaign!r}: {exc}", err=True)
    sys.exit(1 if failed else 0)


def _parse_time(value: str | None) -> float | None:
    """ISO date/time (UTC when no zone) → epoch seconds."""
    if not value:
        return None
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


@leads_cli.command("list")
@click.option("--status")
@click.option("--source")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def leads_list(status, source, limit, as_json):
    """Show recent leads (phones and emails masked unless --json)."""
    from logs import mask_text

    queue = _runtime().queue
    for row in queue.list(status=status, source=source, limit=limit):
        if as_json:
            click.echo(json.dumps(row, default=str))
        else:
            click.echo(f"{row['id']:>7} {row['status']:<10} {row['priority']:<9} {row['source']:<16} "
                       f"extern={row['extern_id']} campaign={row['campaign']} "
                       f"{mask_text(row['last_error'] or '')}")
    click.echo("counts: " + json.dumps(queue.counts()), err=True)


@leads_cli.command("replay")
@click.option("--id", "ids", multiple=True, type=int, help="lead id (repeatable)")
@click.option("--status", type=click.Choice(["dead", "rejected", "held", "invalid"]))
@click.option("--source")
@click.option("--since", help="ISO time, UTC unless a zone is given")
@click.option("--until", help="ISO time")
def leads_replay(ids, status, source, since, until):
    """Re-queue dead, rejected or held leads; re-map invalid ones with the current config."""
    from replay import replay

    if not (ids or status or source or since or until):
        raise click.UsageError("choose leads with --id, --status, --source, --since or --until")
    result = replay(_runtime(), ids=ids, status=status, source=source,
                    since=_parse_time(since), until=_parse_time(until))
    requeued = result["requeued"]
    click.echo(f"re-queued {len(requeued)} lead(s): {', '.join(map(str, requeued[:50]))}")
    if result["remapped"] or result["still_invalid"]:
        click.echo(f"re-mapped {len(result['remapped'])} invalid lead(s): "
                   + ", ".join(f"{r['id']}→{r['status']}" for r in result["remapped"][:50]))
    for item in result["still_invalid"][:50]:
        click.echo(f"still invalid: lead {item['id']}: {item['reason']}", err=True)


@leads_cli.command("forget")
@click.option("--phone", help="any format; normalised like lead phones (US → 10 digits, others E.164)")
@click.option("--email")
def leads_forget(phone, email):
    """Erase a person's data (leads and the raw bodies they came in) on request."""
    from mappings.lead import normalize_phones
    from store.retention import forget

    if not (phone or email):
        raise click.UsageError("give --phone and/or --email")
    number = None
    if phone:
        found = normalize_phones([phone], _runtime().settings.file.defaults["default_region"]).numbers
        if not found:
            raise click.UsageError(f"{phone!r} is not a phone number")
        number = found[0]
    result = forget(_runtime().engine, phone=number, email=email)
    click.echo(f"erased personal data of {result['leads']} lead(s) and {result['event_bodies']} raw bod(ies)")


@leads_cli.command("purge")
def leads_purge():
    """Erase raw bodies and finished leads' personal data older than defaults.retention_days."""
    from store.retention import purge

    days = _runtime().settings.file.defaults["retention_days"]
    result = purge(_runtime().engine, days)
    click.echo(f"retention {days} days: erased {result['event_bodies']} raw bodies, {result['leads']} leads' data")


@config_cli.command("check")
def config_check():
    """Validate leadrelay.yml and the environment; print what would run."""
    settings = _runtime().settings
    click.echo(f"config: {settings.config_path} OK")
    click.echo(f"engage: {settings.engage_mode}; dispatch: {settings.dispatch_mode}; database: {settings.database_url.split(':')[0]}")
    for name, source in sorted(settings.file.sources.items()):
        click.echo(f"  /webhooks/{name}  type={source.type} routes={len(source.routes)}")
    for warning in settings.file.warnings:
        click.echo(f"warning: {warning}", err=True)


def register(app: Flask) -> None:
    """Add every command group to the app."""
    for group in (db_cli, dispatch_cli, engage_cli, leads_cli, config_cli):
        app.cli.add_command(group)
