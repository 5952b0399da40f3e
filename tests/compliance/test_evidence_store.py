"""Evidence outlives purge and forget, and goes when its evidence_days are over (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from store import compliance as evidence
from store import db
from store.db import write
from store.ingest import PendingLead, store_webhook
from store.retention import forget, purge
from store.schema import compliance_evidence, compliance_loads

DAY = 86400.0


@pytest.fixture
def engine(db_url):
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def count(engine, table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_purge_and_forget_keep_evidence_until_its_days_are_over(engine):
    old = time.time() - 400 * DAY
    stored = store_webhook(
        engine, source="web", received_at=old, method="POST", path="/", content_type="application/json",
        headers={}, body=b'{"phone": "3055550100"}', remote_addr="", event_status="accepted", reason=None,
        sandbox=False,
        pending=[PendingLead(status="delivered", priority="NORMAL", campaign="Sales", record_key="k1",
                             key_expires_at=None, extern_id="A1", primary_phone="3055550100",
                             lead={"externId": "A1", "leadPhone": "3055550100", "email": "ada@example.com"})],
    )  # fmt: skip
    lead_id = stored.outcomes[0].lead_id
    assert lead_id is not None
    with write(engine) as conn:
        evidence.record(conn, [
            evidence.EvidenceRow(lead_id, "web", "A1", ["+13055550100"], "ada@example.com", None, "load", "load", {}, old, 1825),
            evidence.EvidenceRow(lead_id, "web", "A1", ["+13055550100"], None, None, "load", "load", {}, old, 30),
        ])  # fmt: skip
        evidence.record_loads(conn, lead_id, ["+13055550100"], old)
    purge(engine, retention_days=30)
    forget(engine, phone="3055550100", email="ada@example.com")
    rows = evidence.report(engine, phone="+13055550100")
    assert len(rows) == 2 and rows[0]["email"] == "ada@example.com"  # the lead is erased, its evidence is not
    assert evidence.purge_evidence(engine, time.time()) == 1  # the 30-day row is over; the 5-year row stays
    assert [r["keep_until"] for r in evidence.report(engine, extern_id="A1")] == [old + 1825 * DAY]
    assert count(engine, compliance_loads) == 0  # the caps' log keeps only the last two days
    assert count(engine, compliance_evidence) == 1


@pytest.mark.parametrize("opening", [None, 1_765_000_000.0])
def test_a_consent_answer_releases_the_lead_without_moving_its_clock(engine, opening):
    """A lead deferred for its consent check goes back to `queued` when the answer comes; its dispatch and
    first-dial clock stays at receipt (or at the window's opening it already waited for): the check is
    leadrelay's own latency, and speed to first dial counts it."""
    from sqlalchemy import update

    from lead.lifecycle import LeadReason, LeadStatus
    from store.schema import leads

    received = time.time() - 30
    stored = store_webhook(
        engine, source="web", received_at=received, method="POST", path="/", content_type="application/json",
        headers={}, body=b"{}", remote_addr="", event_status="accepted", reason=None, sandbox=False,
        pending=[PendingLead(status="queued", priority="IMMEDIATE", campaign="Sales", record_key="k2",
                             key_expires_at=None, extern_id="W1", primary_phone="3055550100",
                             lead={"externId": "W1", "leadPhone": "3055550100"})],
    )  # fmt: skip
    lead_id = stored.outcomes[0].lead_id
    assert lead_id is not None
    with write(engine) as conn:
        conn.execute(
            update(leads)
            .where(leads.c.id == lead_id)
            .values(status=LeadStatus.DEFERRED, status_reason=LeadReason.CONSENT_CHECK, clock_from=opening)
        )
    now = time.time()
    with write(engine) as conn:
        assert evidence.release_waiting(conn, lead_id, now) == 1
    with engine.connect() as conn:
        row = conn.execute(
            select(leads.c.status, leads.c.clock_from, leads.c.next_attempt_at).where(leads.c.id == lead_id)
        ).one()
    assert (row.status, row.clock_from, row.next_attempt_at) == (LeadStatus.QUEUED, opening, now)
