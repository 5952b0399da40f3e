"""Dialer events: how long storing and matching one RingCX event takes beside many loaded leads.

    .venv/bin/python -m bench.dialer_events [--leads 100000] [--events 500] [--database URL]

Seeds `--leads` loaded leads (one transaction), then stores `--events` dialer events one at a
time through store.attempts.store_dialer_event — half found by externId, half by phone only (the
indexes ix_leads_extern and ix_leads_primary_phone serve them) — and prints p50/p99 per event.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.stats import summarize
from lead.lifecycle import LeadStatus
from store import db
from store.attempts import AttemptIn, Rules, store_dialer_event

EVENT = {
    "method": "POST",
    "path": "/webhooks/ringcx",
    "content_type": "application/json",
    "headers": {},
    "body": b"{}",
    "remote_addr": "127.0.0.1",
}


def seed(engine: Engine, leads: int, now: float) -> None:
    """One event row and `leads` loaded leads (externId L<n>, phone 30355<n:05d>)."""
    with db.write(engine) as conn:
        event_id = conn.execute(
            text(
                "INSERT INTO events (source, received_at, method, path, status) VALUES ('web', :t, 'POST', '/', 'accepted') RETURNING id"
            ),
            {"t": now},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, sandbox, received_at, "
                "updated_at, next_attempt_at, attempts, claims, delivered_at, primary_phone, unknown_fate) VALUES (:e, 'web', :k, :k, "
                ":s, 'NORMAL', 'Inbound Leads', false, :t, :t, 0, 1, 0, :t, :p, false)"
            ),
            [
                {"e": event_id, "k": f"L{n}", "s": LeadStatus.DELIVERED.value, "t": now, "p": f"30355{n % 100000:05d}"}
                for n in range(leads)
            ],
        )


def run(url: str, leads: int, events: int) -> dict[str, float]:
    """Seed, then time each event; the summary in milliseconds."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    now = time.time()
    seed(engine, leads, now - 600)
    times = []
    for n in range(events):
        target = (n * 7919) % leads
        values = {
            "uii": f"u{n}",
            "kind": "agent_termination",
            "extern_id": f"L{target}" if n % 2 else None,
            "phone": f"30355{target % 100000:05d}",
            "campaign": None,
            "agent": "a",
            "agent_id": "1",
            "disposition": None,
            "system_disposition": "ANSWER",
            "call_start": None,
            "duration": 30,
            "recording_url": None,
        }
        started = time.perf_counter()
        stored = store_dialer_event(
            engine,
            source="ringcx",
            received_at=time.time(),
            event=EVENT,
            items=[AttemptIn(f"u:{n}", values, True)],
            rules=Rules(),
        )
        times.append(time.perf_counter() - started)
        assert stored.outcomes[0].lead_id is not None
    engine.dispose()
    return summarize(times)


def main() -> None:
    """Parse arguments and print one line per database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument(
        "--database", action="append", help="a PostgreSQL URL (a fresh schema is not made: use an empty database)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"sqlite:///{Path(tmp) / 'bench.db'}", *(args.database or [])]
        for url in urls:
            stats = run(url, args.leads, args.events)
            print(
                f"{url.split(':')[0]:10} {args.leads} loaded leads, {args.events} events: "
                f"p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms per stored and matched event"
            )


if __name__ == "__main__":
    main()
