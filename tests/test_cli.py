"""The flask commands: db upgrade, config check, engage campaigns/check, leads list/replay."""

from __future__ import annotations

import time

import pytest

from store.ingest import PendingLead, store_webhook
from store.lease import Lease
from store.queue import Queue, Settlement

CONFIG = """
sources:
  hubspot:
    type: hubspot
    token: t
    campaign: "Hot Inbound"
"""


def test_db_upgrade_and_config_check(make_app, sqlite_url):
    """`db upgrade` reports the revision; `config check` lists sources and mode."""
    app = make_app(CONFIG, sqlite_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from store import db

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert result.exit_code == 0 and f"schema at revision {head}" in result.output, result.output
    result = runner.invoke(args=["config", "check"])
    assert result.exit_code == 0 and "/webhooks/hubspot" in result.output and "engage: sandbox" in result.output


@pytest.mark.process  # the sandbox Engage serves on a loopback port
def test_engage_campaigns_and_check_in_sandbox(make_app, sqlite_url):
    """Campaign enumeration (dial groups → campaigns) and name resolution against the sandbox fake."""
    app = make_app(CONFIG, sqlite_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["engage", "campaigns"])
    assert result.exit_code == 0, result.output
    assert "Hot Inbound" in result.output and "dial group" in result.output
    result = runner.invoke(args=["engage", "check"])
    assert result.exit_code == 0, result.output
    assert "campaign 'Hot Inbound' →" in result.output


def test_leads_list_and_replay(make_app, sqlite_url):
    """`leads list` masks phones; `leads replay --status dead` re-queues dead leads."""
    app = make_app(CONFIG, sqlite_url)
    engine = app.extensions["leadrelay"].engine
    store_webhook(
        engine,
        source="hubspot",
        received_at=time.time(),
        method="POST",
        path="/",
        content_type="",
        headers={},
        body=b"",
        remote_addr="",
        event_status="accepted",
        reason=None,
        sandbox=True,
        pending=[
            PendingLead(
                status="queued",
                priority="NORMAL",
                campaign="Hot Inbound",
                record_key="k:1",
                key_expires_at=None,
                extern_id="x1",
                lead={"externId": "x1", "leadPhone": "3035550142"},
                primary_phone="3035550142",
            )
        ],
    )
    lease = Lease(engine, "cli-test", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    queue = Queue(engine)
    claimed = queue.claim(epoch, "cli-test", "NORMAL", 10, claim_ttl=30)
    queue.settle(epoch, [Settlement(claimed[0].id, "dead", error="Engage down for 24h; phone 3035550142")])
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["leads", "list"])
    assert "dead" in listing.output and "3035550142" not in listing.output
    assert runner.invoke(args=["leads", "replay"]).exit_code != 0  # refuses to replay everything by accident
    result = runner.invoke(args=["leads", "replay", "--status", "dead"])
    assert result.exit_code == 0 and f"Re-queued 1 lead: {claimed[0].id}.\n" in result.output
    assert queue.counts() == {"queued": 1}
    # Waiting again: the listing says why (status_reason) and that the last call may have landed.
    claimed = queue.claim(epoch, "cli-test", "NORMAL", 10, claim_ttl=30)
    queue.settle(
        epoch,
        [Settlement(claimed[0].id, "retrying", error="Engage unavailable: 503", reason="outage", unknown_fate=True)],
    )
    listing = runner.invoke(args=["leads", "list"])
    assert "retrying" in listing.output and "reason=outage fate=unknown Engage unavailable: 503" in listing.output


def _lead_with_status(app, status: str, extern_id: str) -> int:
    """Store one lead and settle it with `status` through the real queue; return its id."""
    engine = app.extensions["leadrelay"].engine
    store_webhook(
        engine,
        source="hubspot",
        received_at=time.time(),
        method="POST",
        path="/",
        content_type="",
        headers={},
        body=b"",
        remote_addr="",
        event_status="accepted",
        reason=None,
        sandbox=True,
        pending=[
            PendingLead(
                status="queued",
                priority="NORMAL",
                campaign="Hot Inbound",
                record_key=f"k:{extern_id}",
                key_expires_at=None,
                extern_id=extern_id,
                lead={"externId": extern_id, "leadPhone": "3035550142"},
                primary_phone="3035550142",
            )
        ],
    )
    lease = Lease(engine, f"cli-{extern_id}", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    queue = Queue(engine)
    [lead] = queue.claim(epoch, f"cli-{extern_id}", "NORMAL", 10, claim_ttl=30)
    queue.settle(epoch, [Settlement(lead.id, status)])
    lease.release()
    return lead.id


def test_replay_says_why_nothing_was_replayed(make_app, sqlite_url):
    """A delivered lead, an unknown id and an empty filter each get a reason, not a silent `0`."""
    app = make_app(CONFIG, sqlite_url)
    delivered = _lead_with_status(app, "delivered", "d1")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["leads", "replay", "--id", str(delivered)])
    assert result.exit_code == 0
    assert (
        f"lead {delivered} is delivered: replay takes rejected, held, dead, invalid, blocked leads "
        "(a delivered lead is in Engage already)"
    ) in result.output
    result = runner.invoke(args=["leads", "replay", "--id", "999"])
    assert "lead 999: no such lead" in result.output
    result = runner.invoke(args=["leads", "replay", "--status", "dead", "--source", "hubspot"])
    assert "no lead matched --status dead --source hubspot: leads by status: delivered 1" in result.output
    dead = _lead_with_status(app, "dead", "x2")
    result = runner.invoke(args=["leads", "replay", "--id", str(dead), "--source", "typeform"])
    assert f"lead {dead} is dead from source hubspot: it does not match --source typeform" in result.output
    assert (Queue(app.extensions["leadrelay"].engine).get(dead) or {}).get("status") == "dead"


def test_leads_list_explains_a_bad_or_empty_filter(make_app, sqlite_url):
    """`--status bogus` is refused with the statuses that exist; an empty result says what matched nothing."""
    app = make_app(CONFIG, sqlite_url)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["leads", "list", "--status", "bogus"])
    assert result.exit_code == 2
    assert "--status 'bogus' is not a lead status: use one of queued, sending" in result.output
    result = runner.invoke(args=["leads", "list", "--status", "delivred"])
    assert "did you mean delivered?" in result.output
    result = runner.invoke(args=["leads", "list", "--status", "dead"])
    assert result.exit_code == 0 and "no lead matched --status dead" in result.output


def test_replay_with_a_bad_time_is_one_line(make_app, sqlite_url):
    """`--since yesterday` is a usage error with the accepted forms, not a traceback."""
    app = make_app(CONFIG, sqlite_url)
    result = app.test_cli_runner().invoke(args=["leads", "replay", "--status", "dead", "--since", "yesterday"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # a usage error, no traceback
    assert "'yesterday' is not an ISO date or time: use e.g. 2026-01-15" in result.output


@pytest.mark.parametrize(
    ("argv", "serves"),
    [
        (["/srv/.venv/bin/gunicorn", "app:app"], True),
        (["/srv/.venv/bin/flask", "--app", "app", "dispatch", "run"], True),
        (["/srv/.venv/bin/flask", "--app", "app", "run", "--port", "8000"], True),
        (["/srv/.venv/bin/flask", "--app", "app", "config", "check"], False),
        (["/srv/.venv/bin/flask", "--app", "app", "db", "upgrade"], False),
    ],
)
def test_only_servers_wait_for_the_database(argv, serves):
    """Servers retry an unreachable database (answering 503); one-shot commands fail at once in one line."""
    from app import _serves

    assert _serves(argv) is serves


def test_replay_answers_in_sentences(make_app, sqlite_url):
    """Plurals right, no `lead(s)`, no Python dicts: what was re-queued, re-mapped, or still invalid and why."""
    app = make_app(CONFIG, sqlite_url)
    dead = [_lead_with_status(app, "dead", f"d{n}") for n in range(2)]
    runner = app.test_cli_runner()
    result = runner.invoke(args=["leads", "replay", "--status", "dead"])
    assert result.output.splitlines()[0] == f"Re-queued 2 leads: {dead[0]}, {dead[1]}."
    result = runner.invoke(args=["leads", "replay", "--status", "dead"])
    assert result.output.splitlines()[0] == "No lead was replayed."
    invalid = app.test_client().post(
        "/webhooks/hubspot", json={"vid": 5, "properties": {}}, headers={"X-Leadrelay-Token": "t"}
    )
    lead_id = invalid.json["leads"][0]["lead_id"]
    result = runner.invoke(args=["leads", "replay", "--id", str(lead_id)])
    assert f"Lead {lead_id} is still invalid: leadPhone: no dialable phone number in " in result.output
    assert "{" not in result.output and "(s)" not in result.output


@pytest.mark.parametrize(
    ("env", "processes", "lines", "code"),
    [
        (
            {"DISPATCH_MODE": "worker", "WEB_CONCURRENCY": "2"},
            "web=1,worker=2",
            [
                "  web: 2 processes → 20",
                "  worker: 2 processes → 22",
                "  total 44 of DATABASE_MAX_CONNECTIONS=20: does NOT fit",
            ],
            1,
        ),
        (
            {"DISPATCH_MODE": "worker", "WEB_CONCURRENCY": "2", "DATABASE_POOL_SIZE": "2"},
            "web=1,worker=2",
            ["  web: 2 processes → 8", "  worker: 2 processes → 10", "  total 20 of DATABASE_MAX_CONNECTIONS=20: fits"],
            0,
        ),
        (
            {"DISPATCH_MODE": "inline", "WEB_CONCURRENCY": "1"},
            "web=1",
            [
                "  web: 1 process → 11",
                "  one-off (release, heroku run): 1 process → 2",
                "  total 13 of DATABASE_MAX_CONNECTIONS=20: fits",
            ],
            0,
        ),
    ],
)
def test_config_check_adds_up_database_connections(make_app, sqlite_url, env, processes, lines, code):
    """`config check --processes` prints the worst-case connections per process kind against the plan's limit."""
    app = make_app(CONFIG, sqlite_url, DATABASE_MAX_CONNECTIONS="20", **env)
    result = app.test_cli_runner().invoke(args=["config", "check", "--processes", processes])
    assert result.exit_code == code, result.output
    for line in lines:
        assert line in result.output.splitlines()


def test_config_check_processes_needs_the_limit_and_a_readable_formation(make_app, sqlite_url):
    """Without DATABASE_MAX_CONNECTIONS it says to set it (with the plans' limits); a bad formation is a usage error."""
    runner = make_app(CONFIG, sqlite_url).test_cli_runner()
    result = runner.invoke(args=["config", "check", "--processes", "web=1"])
    assert (
        result.exit_code == 0 and "DATABASE_MAX_CONNECTIONS is not set — set it to your plan's limit" in result.output
    )
    bad = runner.invoke(args=["config", "check", "--processes", "web:2"])
    assert bad.exit_code == 2 and "write it as web=N,worker=M" in bad.output
