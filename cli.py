"""The `./leadrelay …` commands (also `flask --app app …`): db, dispatch, engage, leads, config."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from lead.lifecycle import REPLAYABLE, LeadStatus, ordered

if TYPE_CHECKING:
    from engage.client import EngageClient
    from runtime import Runtime

db_cli = AppGroup("db", help="Database schema.")
dispatch_cli = AppGroup("dispatch", help="The dispatcher (worker mode).")
engage_cli = AppGroup("engage", help="Talk to Engage with the configured credentials.")
leads_cli = AppGroup("leads", help="Inspect and replay leads.")
config_cli = AppGroup("config", help="Check the configuration.")
admin_cli = AppGroup("admin", help="The operator console's sessions.")
sessions_cli = AppGroup("sessions", help="Console sessions (server-side: revoking one ends it at once).")
admin_cli.add_command(sessions_cli)
GROUPS = (config_cli, leads_cli, engage_cli, db_cli, dispatch_cli, admin_cli)

# Every status a lead row can have (lead/lifecycle.py; docs/operations.md, "Lead states").
LEAD_STATUSES = tuple(s.value for s in LeadStatus)
REPLAYED = tuple(s.value for s in ordered(REPLAYABLE))  # plain strings: click matches an enum by name

HELP = """leadrelay: webhooks in, Engage leads out. Each command is documented by --help.

\b
The service itself runs under gunicorn (`make run`, the Procfile's `web:`) and, in worker mode,
`./leadrelay dispatch run`. README "Commands" and docs/operations.md list what each command does.
"""


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 lead`, `2 leads`, `0 leads` (`many` for irregular plurals: body → bodies)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def command_line() -> click.Group:
    """`./leadrelay`: leadrelay's own command groups, without Flask's `run`, `shell` and `routes`."""
    return click.Group("leadrelay", help=HELP, commands=list(GROUPS))


def run_command_line(create_app: Callable[[], Flask], args: list[str] | None = None) -> None:
    """Run one `./leadrelay` command line (sys.argv when None); exits like any click program.

    The app is built only when a command runs (not for --help), through the ScriptInfo the `flask`
    command uses too, so each command behaves the same both ways.
    """
    from flask.cli import ScriptInfo

    info = ScriptInfo(create_app=create_app, set_debug_flag=False)
    command_line().main(args=args, prog_name="leadrelay", obj=info)


def _runtime() -> Runtime:
    """The Runtime of the current app, its database reachable: a command fails at once in one line.

    The web process keeps retrying an unreachable database (answering 503); a command has nobody
    to answer, so it says where the database is and how to fix it, and exits 3.
    """
    runtime: Runtime = current_app.extensions["leadrelay"]
    if not runtime.schema_ready.is_set():
        from config import database_error
        from store import db

        try:
            db.upgrade(runtime.engine)
        except Exception as exc:
            if not db.unavailable(exc):
                raise
            click.echo(f"leadrelay: database error: {database_error(runtime.settings.database_url, exc)}", err=True)
            raise SystemExit(3) from None
        runtime.schema_ready.set()
    return runtime


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema up to date (idempotent; the Procfile's release step)."""
    from store import db

    db.upgrade(_runtime().engine)
    click.echo(f"schema at revision {db.current_revision(_runtime().engine)}")


@dispatch_cli.command("run")
def dispatch_run() -> None:
    """Run a dispatcher until SIGTERM/SIGINT (stand by while another holds the lease)."""
    from runtime import start_dispatcher, stop_dispatcher

    # current_app is typed as Flask but is a werkzeug LocalProxy: the dispatcher thread needs the app itself.
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
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


def _engage_client() -> tuple[EngageClient, bool]:
    """A live (or sandbox) Engage client for one-off commands, token kept in memory."""
    from dispatch.backend import engage_timeouts, live_client, start_sandbox
    from engage import fake as fake_engage
    from engage.auth import MemoryTokenStore, RingCentralJWTAuth
    from engage.client import DISCOVERY_ACCOUNT, EngageClient

    settings = _runtime().settings
    if not settings.engage_account_id:  # only `engage accounts` gets here without one
        settings = dataclasses.replace(settings, engage_account_id=DISCOVERY_ACCOUNT)
    timeouts = engage_timeouts(10.0)
    if settings.sandbox:
        _fake, server = start_sandbox(settings)
        auth = RingCentralJWTAuth(
            server.url,
            server.url,
            fake_engage.DEFAULT_CLIENT_ID,
            fake_engage.DEFAULT_CLIENT_SECRET,
            fake_engage.DEFAULT_JWT,
        )
        return EngageClient(server.url, fake_engage.DEFAULT_ACCOUNT_ID, auth), True
    return live_client(settings, MemoryTokenStore(), timeouts), False


@engage_cli.command("campaigns")
def engage_campaigns() -> None:
    """List dial groups and their campaigns (ids and names), as Engage enumerates them."""
    client, sandbox = _engage_client()
    if sandbox:
        click.echo("SANDBOX: these are the fake Engage's campaigns, seeded from leadrelay.yml")
    with _engage_errors():
        for group in client.dial_groups():
            click.echo(f"dial group {group.get('dialGroupId')}: {group.get('dialGroupName')}")
            for campaign in client.campaigns(group["dialGroupId"]):
                active = "active" if campaign.get("isActive") else "inactive"
                click.echo(f"  campaign {campaign.get('campaignId')}: {campaign.get('campaignName')} ({active})")


@engage_cli.command("accounts")
def engage_accounts() -> None:
    """List the accounts the credentials can see; ENGAGE_ACCOUNT_ID is one of these ids."""
    client, sandbox = _engage_client()
    _print_accounts(_accounts(client), _runtime().settings.engage_account_id, sandbox)


def _accounts(client: EngageClient) -> list[dict[str, Any]]:
    """GET /admin/accounts, or one line saying what failed and what to check."""
    with _engage_errors():
        return client.accounts()


@contextlib.contextmanager
def _engage_errors() -> Iterator[None]:
    """Engage refusing or not answering, as one line saying what to check (never a traceback)."""
    from engage.errors import AuthError, EngageError

    try:
        yield
    except AuthError as exc:
        raise click.ClickException(
            f"Engage refused ({exc}) — fix: check RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET "
            "and RINGCENTRAL_JWT (or ENGAGE_API_TOKEN), and ENGAGE_ACCOUNT_ID "
            "(`./leadrelay engage accounts` lists the ones you can use)"
        ) from None
    except EngageError as exc:
        raise click.ClickException(
            f"Engage did not answer ({exc}) — fix: check ENGAGE_BASE_URL, RINGCENTRAL_SERVER_URL and the network"
        ) from None


def _print_accounts(accounts: list[dict[str, Any]], configured: str | None, sandbox: bool) -> None:
    """One line per account, the configured one marked; what to do when none is configured."""
    if sandbox:
        click.echo("SANDBOX: these are the fake Engage's accounts")
    for account in accounts:
        mark = "  ← ENGAGE_ACCOUNT_ID" if configured and str(account.get("accountId")) == str(configured) else ""
        click.echo(
            f"account {account.get('accountId')}: {account.get('accountName')} "
            f"(main account {account.get('mainAccountId')}){mark}"
        )
    if not accounts:
        click.echo("no accounts visible to these credentials: the login needs the ReadAccounts permission", err=True)
    elif not configured:
        click.echo("set ENGAGE_ACCOUNT_ID to the id of the sub-account whose campaigns should dial", err=True)


# The commands that work before ENGAGE_ACCOUNT_ID is set: the one that finds it, and the schema
# migration (Heroku's release phase runs it before anyone could have set it).
WITHOUT_ACCOUNT_ID = (["engage", "accounts"], ["db", "upgrade"])
# The commands that need only the database: they also run without the sources' secrets (a shell
# on a laptop rarely has every sender's secret, and listing leads needs none of them).
DATABASE_ONLY = (["leads", "list"], ["leads", "forget"], ["leads", "purge"], ["db", "upgrade"])


def _command(argv: list[str], commands: tuple[list[str], ...]) -> bool:
    """Whether the command line runs one of `commands` (a group and a command, options anywhere)."""
    words = [word for word in argv[1:] if not word.startswith("-")]
    return any(words[i : i + 2] in commands for i in range(len(words)))


def app_for_command(error: Exception, create_app: Callable[..., Flask], argv: list[str] | None = None) -> Flask | None:
    """The app for a command that can run despite `error` (a config error), or None.

    `engage accounts` and `db upgrade` run without ENGAGE_ACCOUNT_ID; the database-only commands
    (`leads list` …) also without the sources' unset ${VAR}s, those sources left out. `create_app`
    is handed in by app.py, so the CLI never imports the application factory.
    """
    from config import ConfigError, load_settings

    args = sys.argv if argv is None else argv
    key = str(getattr(error, "key", ""))
    unset_secret = key.startswith("sources.") and str(getattr(error, "problem", "")).endswith("is not set")
    database_only = _command(args, DATABASE_ONLY) and (key == "ENGAGE_ACCOUNT_ID" or unset_secret)
    if not database_only and not (_command(args, WITHOUT_ACCOUNT_ID) and key == "ENGAGE_ACCOUNT_ID"):
        return None
    try:
        settings = load_settings(require_account_id=False, require_source_secrets=not database_only)
        return create_app(settings=settings, wait_for_database=False)
    except ConfigError:
        return None  # another problem too: the caller reports the original one


@engage_cli.command("check")
def engage_check() -> None:
    """Log in, list accounts, and resolve every campaign the config routes to."""
    from engage.campaigns import CampaignDirectory

    client, sandbox = _engage_client()
    click.echo(f"mode: {'sandbox' if sandbox else 'live'}")
    accounts = _accounts(client)
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
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise click.UsageError(
            f"{value!r} is not an ISO date or time: use e.g. 2026-01-15 or "
            "2026-01-15T09:30 (UTC) or 2026-01-15T09:30-07:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


@leads_cli.command("list")
@click.option("--status")
@click.option("--source")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def leads_list(status: str | None, source: str | None, limit: int, as_json: bool) -> None:
    """Show recent leads (phones and emails masked unless --json)."""
    from config import closest
    from logs import mask_text

    if status is not None and status not in LEAD_STATUSES:
        guess = closest(status, LEAD_STATUSES)
        hint = f"did you mean {guess}? " if guess else ""
        raise click.UsageError(f"--status {status!r} is not a lead status: {hint}use one of {', '.join(LEAD_STATUSES)}")
    queue = _runtime().queue
    rows = queue.list(status=status, source=source, limit=limit)
    if not rows:
        click.echo(f"no lead matched {_filters(status=status, source=source)}", err=True)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, default=str))
        else:
            click.echo(
                f"{row['id']:>7} {row['status']:<10} {row['priority']:<9} {row['source']:<16} "
                f"extern={row['extern_id']} campaign={row['campaign']} "
                f"{mask_text(row['last_error'] or '')}"
            )
    click.echo(f"leads by status: {_counts(queue.counts())}", err=True)


@leads_cli.command("replay")
@click.option("--id", "ids", multiple=True, type=int, help="lead id (repeatable)")
@click.option("--status", type=click.Choice(REPLAYED))
@click.option("--source")
@click.option("--since", help="ISO time, UTC unless a zone is given")
@click.option("--until", help="ISO time")
def leads_replay(
    ids: tuple[int, ...], status: str | None, source: str | None, since: str | None, until: str | None
) -> None:
    """Re-queue dead, rejected, held or blocked leads; re-map invalid ones with the current config."""
    from replay import replay

    if not (ids or status or source or since or until):
        raise click.UsageError("choose leads with --id, --status, --source, --since or --until")
    result = replay(
        _runtime(), ids=ids, status=status, source=source, since=_parse_time(since), until=_parse_time(until)
    )
    requeued = result["requeued"]
    for line in _replay_sentences(requeued, result["remapped"]):
        click.echo(line)
    for item in result["still_invalid"][:50]:
        click.echo(f"Lead {item['id']} is still invalid: {_reasons(item['reason'])}.", err=True)
    touched = set(requeued) | {r["id"] for r in result["remapped"]} | {r["id"] for r in result["still_invalid"]}
    for reason in _why_not_replayed(ids, touched, status=status, source=source, since=since, until=until):
        click.echo(reason, err=True)


def _ids(ids: list[int], limit: int = 50) -> str:
    """Lead ids as text, the first `limit` of them and how many more."""
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _replay_sentences(requeued: list[int], remapped: list[dict[str, Any]]) -> list[str]:
    """What a replay did, in sentences (e.g. `Re-queued 2 leads: 4, 7.`)."""
    lines = []
    if requeued:
        lines.append(f"Re-queued {plural(len(requeued), 'lead')}: {_ids(requeued)}.")
    if remapped:
        shown = ", ".join(f"{r['id']} (now {r['status']})" for r in remapped[:50])
        more = f" and {len(remapped) - 50} more" if len(remapped) > 50 else ""
        lines.append(f"Re-mapped {plural(len(remapped), 'invalid lead')}: {shown}{more}.")
    return lines or ["No lead was replayed."]


def _reasons(reason: Any) -> str:
    """A replay refusal's reason: mapping errors (`field → [why]`) as `field: why; …`, text as is."""
    if isinstance(reason, dict):
        return "; ".join(
            f"{field}: {', '.join(map(str, whys)) if isinstance(whys, list) else whys}"
            for field, whys in reason.items()
        )
    return str(reason)


def _counts(counts: dict[str, int]) -> str:
    """Leads per status as text: `delivered 3, queued 1`, or `none stored`."""
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none stored"


def _filters(**chosen: object) -> str:
    """The filters a command was given, as `--name value` text (or `(no filter)`)."""
    given = [f"--{name} {value}" for name, value in chosen.items() if value]
    return " ".join(given) if given else "(no filter)"


def _why_not_replayed(ids: tuple[int, ...], touched: set[int], **filters: str | None) -> list[str]:
    """One line per chosen lead that was not replayed (or one line when no lead matched), saying why."""
    queue = _runtime().queue
    reasons = []
    for lead_id in ids:
        if lead_id in touched:
            continue
        row = queue.get(lead_id)
        if row is None:
            reasons.append(f"lead {lead_id}: no such lead")
        elif row["status"] not in REPLAYED:
            reasons.append(
                f"lead {lead_id} is {row['status']}: replay takes {', '.join(REPLAYED)} leads "
                "(a delivered lead is in Engage already)"
            )
        else:
            reasons.append(
                f"lead {lead_id} is {row['status']} from source {row['source']}: "
                f"it does not match {_filters(**filters)}"
            )
    if not ids and not touched:
        reasons.append(f"no lead matched {_filters(**filters)}: leads by status: {_counts(queue.counts())}")
    return reasons


@leads_cli.command("forget")
@click.option("--phone", help="any format; normalised like lead phones (US → 10 digits, others E.164)")
@click.option("--email")
def leads_forget(phone: str | None, email: str | None) -> None:
    """Erase a person's data (leads and the raw bodies they came in) on request."""
    from lead.phones import normalize_phones
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
    click.echo(
        f"Erased the personal data of {plural(result['leads'], 'lead')} "
        f"and {plural(result['event_bodies'], 'raw body', 'raw bodies')}."
    )


@leads_cli.command("purge")
def leads_purge() -> None:
    """Erase raw bodies and finished leads' personal data older than defaults.retention_days."""
    from store.retention import purge

    days = _runtime().settings.file.defaults["retention_days"]
    result = purge(_runtime().engine, days)
    click.echo(
        f"Retention {plural(days, 'day')}: erased {plural(result['event_bodies'], 'raw body', 'raw bodies')} "
        f"and the personal data of {plural(result['leads'], 'lead')}."
    )


@config_cli.command("check")
def config_check() -> None:
    """Validate leadrelay.yml and the environment; print what would run."""
    settings = _runtime().settings
    click.echo(f"config: {settings.config_path} OK")
    click.echo(
        f"engage: {settings.engage_mode}; dispatch: {settings.dispatch_mode}; database: {settings.database_url.split(':')[0]}"
    )
    for name, source in sorted(settings.file.sources.items()):
        click.echo(f"  /webhooks/{name}  type={source.type} routes={len(source.routes)}")
    for name in settings.file.disabled:
        click.echo(f"  /webhooks/{name}  disabled (enabled: false): answers 404")
    for warning in settings.file.warnings:
        click.echo(f"warning: {warning}", err=True)


@sessions_cli.command("revoke")
def sessions_revoke() -> None:
    """End every console session now (every browser must log in again); bearer tokens are unaffected."""
    import time

    from store import sessions

    count = sessions.revoke_all(_runtime().engine, time.time())
    click.echo(f"Revoked {plural(count, 'session')}: every console user must log in again.")


def register(app: Flask) -> None:
    """Add every command group to the app."""
    for group in GROUPS:
        app.cli.add_command(group)
