"""Helpers for the dispatcher tests: their settings, a live-style backend for the fake Engage, leads in the queue."""

from __future__ import annotations

import time

from dispatch.runner import Backend
from engage.auth import MemoryTokenStore, RingCentralJWTAuth
from engage.campaigns import CampaignDirectory
from engage.client import EngageClient
from harness import fake_engage
from store.ingest import PendingLead, store_webhook

DISPATCH = {
    "batch_size": 50,
    "normal_batch_delay": 0.3,
    "lease_seconds": 2.0,
    "poll_interval": 0.2,
    "retry_budget": 3600.0,
    "backoff_base": 0.05,
    "backoff_cap": 0.3,
    "rate_limit_10s": 27,
    "rate_limit_60s": 110,
    "max_claims": 3,
    "immediate_max_age": 900.0,
    "hold_probe": 0.5,
}


def backend_for(fake, read_timeout=0.9):
    """A live-style backend (JWT grant + exchange) pointed at the fake."""
    url = fake.server.url

    def build(lease):
        """Fresh client per leader, token in memory."""
        auth = RingCentralJWTAuth(
            url,
            url,
            fake_engage.DEFAULT_CLIENT_ID,
            fake_engage.DEFAULT_CLIENT_SECRET,
            fake_engage.DEFAULT_JWT,
            store=MemoryTokenStore(),
            timeout=(0.5, read_timeout),
        )
        client = EngageClient(url, fake_engage.DEFAULT_ACCOUNT_ID, auth, connect_timeout=0.5, read_timeout=read_timeout)
        return Backend(client=client, directory=CampaignDirectory(client), sandbox=False)

    return build


def pending_lead(i, priority="IMMEDIATE", campaign="Hot Inbound", phone=None):
    """Lead number i as a webhook's parser hands it over: its extern id L{i} and the queued record."""
    extern = f"L{i}"
    number = phone or f"303555{i % 10000:04d}"
    return extern, PendingLead(
        status="queued",
        priority=priority,
        campaign=campaign,
        record_key=f"k:{extern}",
        key_expires_at=None,
        extern_id=extern,
        lead={"externId": extern, "leadPhone": number},
        primary_phone=number,
        load_options={
            "duplicateHandling": "REMOVE_FROM_LIST",
            "timeZoneOption": "NPA_NXX",
            "description": "leadrelay {source} {date}",
        },
    )


def store_leads(engine, leads, received_at=None):
    """Store (extern, PendingLead) pairs as one webhook, in one transaction, and return their extern ids.

    A running dispatcher sees all of them or none, so they are claimed together: tests that need several
    leads in one call store them this way (one webhook each would let it claim the first alone).
    """
    store_webhook(
        engine,
        source="t",
        received_at=received_at or time.time(),
        method="POST",
        path="/",
        content_type="application/json",
        headers={},
        body=b"{}",
        remote_addr="",
        event_status="accepted",
        reason=None,
        sandbox=False,
        pending=[pending for _extern, pending in leads],
    )
    return [extern for extern, _pending in leads]


def enqueue(
    engine, n, priority="IMMEDIATE", campaign="Hot Inbound", start=0, received_at=None, phone=None, together=False
):
    """Store n leads (one webhook each, or all in one webhook when `together`) and return their extern ids."""
    leads = [pending_lead(i, priority, campaign, phone) for i in range(start, start + n)]
    if together:
        return store_leads(engine, leads, received_at)
    return [extern for lead in leads for extern in store_leads(engine, [lead], received_at)]


def delivered(fake):
    """Extern ids the fake accepted (with repeats, to count duplicates)."""
    return [lead["extern_id"] for lead in fake.leads()]
