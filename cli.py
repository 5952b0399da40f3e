"""The `./leadrelay …` commands (also `flask --app app …`): db, dispatch, engage, leads, dnc, jobs, config."""

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
from flask.cli import AppGroup, with_appcontext

from lead.lifecycle import REPLAYABLE, LeadStatus, ordered
from store.outbox import JobState

if TYPE_CHECKING:
    from engage.client import EngageClient
    from runtime import Runtime

db_cli = AppGroup("db", help="Database schema.")
dispatch_cli = AppGroup("dispatch", help="The dispatcher (worker mode).")
engage_cli = AppGroup("engage", help="Talk to Engage with the configured credentials.")
leads_cli = AppGroup("leads", help="Inspect and replay leads.")
config_cli = AppGroup("config", help="Check the configuration.")
compliance_cli = AppGroup("compliance", help="Compliance gates: proof of each decision, re-checks.")
jobs_cli = AppGroup("jobs", help="The outbox: jobs to Engage and the CRMs (opt-outs, lead actions, write-backs).")
dnc_cli = AppGroup("dnc", help='The do-not-call list (docs/operations.md, "When someone asks not to be called").')
admin_cli = AppGroup("admin", help="The operator console's sessions.")
sessions_cli = AppGroup("sessions", help="Console sessions (server-side: revoking one ends it at once).")
admin_cli.add_command(sessions_cli)
GROUPS = (config_cli, leads_cli, dnc_cli, jobs_cli, engage_cli, db_cli, dispatch_cli, admin_cli, compliance_cli)

# Every status a lead row can have (lead/lifecycle.py; docs/operations.md, "Lead states").
LEAD_STATUSES = tuple(s.value for s in LeadStatus)
REPLAYED = tuple(s.value for s in ordered(REPLAYABLE))  # plain strings: click matches an enum by name
JOB_STATES = tuple(s.value for s in JobState)

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
    return click.Group("leadrelay", help=HELP, commands=[*GROUPS, try_sample])


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
                + (f"reason={row['status_reason']} " if row["status_reason"] else "")
                + ("fate=unknown " if row["unknown_fate"] else "")
                + mask_text(row["last_error"] or "")
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


def _cli_actor() -> str:
    """Who runs a CLI command, for the do-not-call log (the login name; the CLI has no other identity)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _dnc_number(phone: str) -> str:
    """A number typed on the command line in E.164, or a usage error naming it."""
    from store import dnc

    try:
        return dnc.normalize(phone, _runtime().settings.file.defaults["default_region"])
    except dnc.BadNumber as exc:
        raise click.UsageError(str(exc)) from None


@dnc_cli.command("list")
@click.option("--search", "query", default="", help="digits anywhere in the number")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def dnc_list(query: str, limit: int, as_json: bool) -> None:
    """Numbers on the do-not-call list, newest first."""
    from store import dnc

    total, rows = dnc.search(_runtime().engine, query, limit=limit)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, default=str))
        else:
            when = datetime.datetime.fromtimestamp(row["created_at"], datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            click.echo(f"{row['phone']}  {when}  {row['source']}  {row['added_by']}  {row['reason'] or ''}".rstrip())
    shown = f"{len(rows)} of {plural(total, 'number')}" if total > len(rows) else plural(total, "number")
    click.echo(f"{shown} on the list" + (f" matching {query!r}" if query else "") + ".", err=True)


@dnc_cli.command("add")
@click.argument("phone")
@click.option("--reason", default="added by an operator (CLI)", show_default=True)
def dnc_add(phone: str, reason: str) -> None:
    """Put a number on the do-not-call list (already there: says so, changes nothing)."""
    from store.optouts import add_numbers

    number = _dnc_number(phone)
    runtime = _runtime()
    added = add_numbers(runtime.engine, [number], reason=reason, source="cli", actor=_cli_actor(), bulk=False)
    click.echo(f"{number} added to the do-not-call list" if added else f"{number} was already on the do-not-call list")


@dnc_cli.command("remove")
@click.argument("phone")
@click.option("--reason", required=True, help="why it may be called again (kept in the log)")
def dnc_remove(phone: str, reason: str) -> None:
    """Take a number off leadrelay's do-not-call list (Engage's own list is not changed)."""
    import time

    from store import dnc

    number = _dnc_number(phone)
    if not reason.strip():
        raise click.UsageError("--reason must say why")
    removed = dnc.remove_one(
        _runtime().engine, number, reason=reason, actor=_cli_actor(), source="cli", now=time.time()
    )
    if not removed:
        raise click.ClickException(f"{number} is not on the do-not-call list")
    click.echo(f"{number} removed from leadrelay's do-not-call list (Engage's list is unchanged: remove it there too)")


@dnc_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--reason", default=None, help="for rows without a reason column (default: the file's name)")
def dnc_import(file: str, reason: str | None) -> None:
    """Add every number of a CSV file (a `phone` column, or the first); running it again adds nothing."""
    from pathlib import Path

    from store.optouts import import_file

    path = Path(file)
    try:
        data = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.UsageError(f"{file}: not UTF-8 text (save the sheet as CSV UTF-8)") from None
    runtime = _runtime()
    result = import_file(
        runtime.engine,
        data,
        region=runtime.settings.file.defaults["default_region"],
        reason=reason or f"import {path.name}",
        actor=_cli_actor(),
    )
    for line, why in result.invalid[:20]:
        click.echo(f"{file}:{line}: {why}", err=True)
    if len(result.invalid) > 20:
        click.echo(f"… and {len(result.invalid) - 20} more refused line(s)", err=True)
    click.echo(
        f"{plural(result.rows, 'row')}: {len(result.added)} added, {result.already} already on the list, "
        f"{len(result.invalid)} refused."
    )


@jobs_cli.command("list")
@click.option("--state", type=click.Choice(JOB_STATES))
@click.option("--kind", help="e.g. engage.dnc_add, engage.lead_action")
@click.option("--stuck", is_flag=True, help="only opt-out jobs not done within an hour (the opt_out_stuck alert)")
@click.option("--limit", default=50, show_default=True)
def jobs_list(state: str | None, kind: str | None, stuck: bool, limit: int) -> None:
    """Show jobs (newest last) with their attempts and last error (phones masked)."""
    import time

    from alerts.conditions import OPT_OUT_KINDS, OPT_OUT_STUCK_AFTER
    from logs import mask_text
    from store.outbox import Outbox, unfinished_older_than

    runtime = _runtime()
    outbox = Outbox(runtime.engine)
    if stuck:
        with runtime.engine.connect() as conn:
            ids = [i for i, _k, _c in unfinished_older_than(conn, OPT_OUT_KINDS, time.time() - OPT_OUT_STUCK_AFTER)]
        rows = [row for row in (outbox.get(i) for i in ids) if row is not None]
    else:
        rows = outbox.rows(kind=kind, state=state, limit=limit)
    for row in rows:
        age = time.time() - row.created_at
        click.echo(
            f"{row.id:>7} {row.state:<8} {row.kind:<20} prio={row.priority} attempts={row.attempts} "
            f"age={age:.0f}s{' fate-unknown' if row.unknown_fate else ''} {mask_text(row.last_error or '')}"
        )
    click.echo("counts: " + json.dumps(outbox.counts()), err=True)


@jobs_cli.command("retry")
@click.option("--id", "ids", multiple=True, type=int, required=True, help="failed job id (repeatable)")
def jobs_retry(ids: tuple[int, ...]) -> None:
    """Send failed jobs again (after fixing what Engage refused); the next leader step picks them up."""
    from store.outbox import Outbox

    count = Outbox(_runtime().engine).requeue(ids)
    click.echo(f"re-queued {count} of {len(ids)} job(s) (only failed jobs are re-queued)")


@config_cli.command("check")
@click.option(
    "--processes",
    metavar="web=N,worker=M",
    help="dyno counts: print the PostgreSQL connections they may open against DATABASE_MAX_CONNECTIONS",
)
def config_check(processes: str | None) -> None:
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
    if processes is not None:
        _connections(_dynos(processes), settings)


def _dynos(text: str) -> dict[str, int]:
    """`web=2,worker=1` → {"web": 2, "worker": 1}; a usage error names what is wrong."""
    dynos: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, count = part.strip().partition("=")
        if kind not in ("web", "worker") or not sep or not count.isdigit():
            raise click.UsageError(f"--processes {text!r}: write it as web=N,worker=M (e.g. web=2,worker=1)")
        dynos[kind] = int(count)
    return dynos


def _connections(dynos: dict[str, int], settings: Any) -> None:
    """Print the worst-case connection arithmetic; exit 1 when it passes DATABASE_MAX_CONNECTIONS."""
    from store.db import LISTEN_CONNECTIONS, connection_budget, process_connections

    pool = settings.database_pool_size
    rows, total = connection_budget(dynos, settings.web_concurrency, settings.dispatch_mode, pool)
    click.echo(
        f"database connections, worst case (DISPATCH_MODE={settings.dispatch_mode}, "
        f"WEB_CONCURRENCY={settings.web_concurrency}, DATABASE_POOL_SIZE={pool}: "
        f"{process_connections(pool)} a process, +{LISTEN_CONNECTIONS} LISTEN where the dispatcher runs):"
    )
    for what, count, connections in rows:
        click.echo(f"  {what}: {plural(count, 'process', 'processes')} → {connections}")
    limit = settings.database_max_connections
    if limit is None:
        click.echo(
            f"  total {total}; DATABASE_MAX_CONNECTIONS is not set — set it to your plan's limit "
            "(Heroku Postgres: essential-0 and -1 20, essential-2 40, standard-0 120; docs/deploy.md)"
        )
        return
    verdict = "fits" if total <= limit else "does NOT fit"
    click.echo(f"  total {total} of DATABASE_MAX_CONNECTIONS={limit}: {verdict}")
    if total > limit:
        click.echo(
            "fix: a smaller DATABASE_POOL_SIZE, fewer processes (WEB_CONCURRENCY, dyno counts, "
            "DISPATCH_MODE=inline on one web dyno) or a plan with more connections "
            '(docs/deploy.md, "Database connections")',
            err=True,
        )
        sys.exit(1)


REPORT_COLUMNS = (
    "decided_at",
    "lead_id",
    "source",
    "extern_id",
    "phone",
    "phones",
    "email",
    "cert_id",
    "gate",
    "decision",
    "detail",
)


@compliance_cli.command("report")
@click.option("--phone", help="any format; matched against every number of a lead (E.164)")
@click.option("--extern-id", "extern_id")
@click.option("--since", help="ISO time, UTC unless a zone is given")
@click.option("--until", help="ISO time")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--limit", default=10000, show_default=True)
def compliance_report(
    phone: str | None, extern_id: str | None, since: str | None, until: str | None, fmt: str, limit: int
) -> None:
    """Every gate decision (with its inputs) for a phone, an externId or a date range."""
    import csv

    from lead.phones import normalize_phones
    from store.compliance import report

    if not (phone or extern_id or since or until):
        raise click.UsageError("give --phone, --extern-id, or a --since/--until range")
    number = None
    if phone:
        found = normalize_phones([phone], _runtime().settings.file.defaults["default_region"])
        if found.primary_e164 is None:
            raise click.UsageError(f"{phone!r} is not a phone number")
        number = found.primary_e164
    rows = report(_runtime().engine, number, extern_id, _parse_time(since), _parse_time(until), limit)
    for row in rows:
        row["decided_at"] = datetime.datetime.fromtimestamp(row["decided_at"], datetime.UTC).isoformat()
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({k: row[k] for k in REPORT_COLUMNS}, default=str, sort_keys=True))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for row in rows:
        writer.writerow(
            [json.dumps(row[k], sort_keys=True) if k in ("phones", "detail") else row[k] for k in REPORT_COLUMNS]
        )


@compliance_cli.command("recheck")
@click.option("--id", "ids", multiple=True, type=int, help="lead id (repeatable)")
@click.option("--source")
@click.option("--since", help="ISO time, UTC unless a zone is given")
@click.option("--until", help="ISO time")
def compliance_recheck(ids: tuple[int, ...], source: str | None, since: str | None, until: str | None) -> None:
    """Put blocked leads back through every gate (with the current config) at their next claim."""
    from lead.lifecycle import LeadStatus
    from replay import replay

    result = replay(
        _runtime(),
        ids=ids,
        status=LeadStatus.BLOCKED,
        source=source,
        since=_parse_time(since),
        until=_parse_time(until),
    )
    requeued = result["requeued"]
    click.echo(
        f"re-queued {len(requeued)} blocked lead(s) for the gates: {', '.join(map(str, requeued[:50]))}"
        + (" …" if len(requeued) > 50 else "")
    )
    click.echo("each is checked again when the dispatcher claims it: `compliance report --extern-id …` shows why")


@sessions_cli.command("revoke")
def sessions_revoke() -> None:
    """End every console session now (every browser must log in again); bearer tokens are unaffected."""
    import time

    from store import sessions

    count = sessions.revoke_all(_runtime().engine, time.time())
    click.echo(f"Revoked {plural(count, 'session')}: every console user must log in again.")


@click.command("try")
@click.argument("source_name", metavar="SOURCE")
@click.argument("sample", metavar="FILE", type=click.File("rb"))
@click.option("--header", "headers", multiple=True, metavar="K:V", help="a request header (repeatable)")
@click.option("--verify", is_flag=True, help="check the credentials too, as a webhook would (token or signature)")
@with_appcontext
def try_sample(source_name: str, sample: Any, headers: tuple[str, ...], verify: bool) -> None:
    """Dry-run FILE as a webhook to SOURCE: map, route, warnings; nothing stored, nothing loaded."""
    import time

    from handlers.base import Inbound
    from store import dnc
    from store.operator import recent_records
    from trial import describe, dry_run

    runtime = _runtime()
    source = runtime.settings.file.sources.get(source_name)
    if source is None:
        known = ", ".join(sorted(runtime.settings.file.sources)) or "none"
        raise click.UsageError(f"no enabled source {source_name!r}: the configured ones are {known}")
    given: dict[str, str] = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.UsageError(f"--header {header!r}: write it as Name:value")
        given[name.strip()] = value.strip()
    body = sample.read()
    content_type = next((v for k, v in given.items() if k.lower() == "content-type"), "")
    if not content_type:
        content_type = "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/x-www-form-urlencoded"
        given["Content-Type"] = content_type
    public = source.settings.public_url or runtime.settings.public_url or "http://localhost"
    inbound = Inbound(
        method="POST",
        url=f"{public.rstrip('/')}/webhooks/{source_name}",
        path=f"/webhooks/{source_name}",
        query={},
        headers=_Headers(given),
        body=body,
        content_type=content_type,
    )
    trial = dry_run(
        source,
        inbound,
        now=time.time(),
        verify=verify,
        recent=lambda name, since: recent_records(runtime.engine, name, since),
        campaign_exists=None if runtime.settings.sandbox else _campaign_checker(),
        gates=source.gates(runtime.settings.windows_default_off, runtime.settings.config_path),
        loads_24h=lambda phones: _loads_24h(runtime.engine, phones),
        on_dnc=lambda phones: dnc.any_on(runtime.engine, phones),
    )
    for line in describe(trial, sandbox=runtime.settings.sandbox):
        click.echo(line)


def _loads_24h(engine: Any, phones: list[str]) -> int:
    """Loads of these numbers in the last 24 h (what the frequency caps count), read-only."""
    import time

    from compliance.gates import CAP_WINDOW
    from store.compliance import loads_within

    with engine.connect() as conn:
        return loads_within(conn, phones, time.time() - CAP_WINDOW)


class _Headers(dict[str, str]):
    """Request headers looked up without regard to case, as a real request's are."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of a header whatever its case."""
        wanted = key.lower()
        return next((v for k, v in self.items() if k.lower() == wanted), default)


def _campaign_checker() -> Callable[[Any], bool | None]:
    """Whether live Engage has a campaign: one login and one enumeration for the whole run, None on errors."""
    from engage.campaigns import CampaignDirectory
    from engage.errors import CampaignError

    client, _sandbox = _engage_client()
    directory = CampaignDirectory(client)

    def exists(campaign: Any) -> bool | None:
        """True/False from Engage's dial groups, None when Engage could not be asked."""
        try:
            directory.resolve(campaign)
        except CampaignError:
            return False
        except Exception:
            return None
        return True

    return exists


def register(app: Flask) -> None:
    """Add every command group to the app."""
    for group in GROUPS:
        app.cli.add_command(group)
    app.cli.add_command(try_sample)
