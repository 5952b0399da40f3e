"""The sandbox Engage is bounded: it keeps the newest max_leads leads, and finds them through indexes.

The product's class (engage/fake.py FakeEngage, what `make run` starts) is driven through its WSGI
entry point with werkzeug's test client: the same requests the dispatcher sends, no socket.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest
from werkzeug.test import Client

from engage.fake import DEFAULT_ACCOUNT_ID, FakeEngage
from engage.fake_leads import DEFAULT_MAX_LEADS, LeadLog

API_TOKEN = "sandbox-test-token"  # the X-Auth-Token this test configures
BASE = f"/voice/api/v1/admin/accounts/{DEFAULT_ACCOUNT_ID}"


def load(client: Client, campaign: int, first: int, count: int) -> None:
    """Load `count` leads with externIds first … first + count − 1 into `campaign` (500 per call)."""
    for start in range(first, first + count, 500):
        rows = [
            {"externId": f"x{n}", "leadPhone": f"415{n:07d}", "firstName": "Ada"}
            for n in range(start, min(start + 500, first + count))
        ]
        response = client.post(
            f"{BASE}/campaigns/{campaign}/leadLoader/direct",
            json={"uploadLeads": rows, "dialPriority": "NORMAL"},
            headers={"X-Auth-Token": API_TOKEN},
        )
        assert response.status_code == 200, response.text
        assert response.get_json()["leadsAccepted"] == len(rows)


def search(client: Client, max_rows: int = 50, **criteria: object) -> list[dict]:
    """POST campaignLeads/leadSearch as the dispatcher does."""
    response = client.post(
        f"{BASE}/campaignLeads/leadSearch?maxRows={max_rows}", json=criteria, headers={"X-Auth-Token": API_TOKEN}
    )
    assert response.status_code == 200, response.text
    rows: list[dict] = response.get_json()
    return rows


@pytest.fixture
def sandbox() -> tuple[FakeEngage, Client]:
    """The product's sandbox Engage (default bound) and a WSGI client for it."""
    fake = FakeEngage(api_tokens=[API_TOKEN], strict_rate_limits=False)
    return fake, Client(fake.wsgi_app)


def test_the_default_bound_is_ten_thousand(sandbox):
    fake, _ = sandbox
    assert fake.max_leads == DEFAULT_MAX_LEADS == 10_000


def test_more_than_the_bound_keeps_the_newest_and_memory_stops_growing(sandbox):
    fake, client = sandbox
    campaign = fake.campaign_id("Inbound Leads")
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        load(client, campaign, 0, DEFAULT_MAX_LEADS)
        gc.collect()
        full = tracemalloc.get_traced_memory()[0] - base
        load(client, campaign, DEFAULT_MAX_LEADS, 2 * DEFAULT_MAX_LEADS)  # three times the bound in all
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert fake.lead_count() == DEFAULT_MAX_LEADS
    # Unbounded, 20,000 more leads would cost twice `full` again; bounded, the log holds the same number.
    assert full > 1_000_000, f"10,000 leads should cost megabytes, measured {full} bytes"
    assert after < full * 1.15, f"memory grew from {full} to {after} bytes after the bound"
    newest, oldest_kept = 3 * DEFAULT_MAX_LEADS - 1, 2 * DEFAULT_MAX_LEADS
    assert [r["externId"] for r in search(client, externIds=[f"x{newest}"])] == [f"x{newest}"]
    assert search(client, externIds=["x0", f"x{oldest_kept - 1}"]) == []  # forgotten
    kept = search(client, max_rows=3, campaignIds=[campaign])
    assert [r["externId"] for r in kept] == [f"x{oldest_kept + i}" for i in range(3)]


def test_search_by_externid_and_campaign(sandbox):
    fake, client = sandbox
    inbound, hot = fake.campaign_id("Inbound Leads"), fake.campaign_id("Hot Inbound")
    load(client, inbound, 0, 3)
    load(client, hot, 2, 2)  # x2 is in both campaigns now
    assert [(r["externId"], r["campaignId"]) for r in search(client, externIds=["x2"])] == [
        ("x2", inbound),
        ("x2", hot),
    ]
    assert [r["externId"] for r in search(client, externIds=["x2", "x3"], campaignIds=[hot])] == ["x2", "x3"]
    assert [r["externId"] for r in search(client, campaignIds=[inbound])] == ["x0", "x1", "x2"]
    assert len(search(client)) == 5
    assert search(client, externIds=["nobody"]) == []


def test_the_log_forgets_from_every_index():
    log = LeadLog(limit=3)
    for n in range(5):
        log.append({"extern_id": f"e{n % 2}", "campaign_id": n % 2})
    assert len(log) == 3 and log.total == 5
    assert [lead["seq"] for lead in log.since(0)] == [3, 4, 5]
    assert [lead["seq"] for lead in log.since(4)] == [5]
    assert [lead["seq"] for lead in log.search(externs=["e0"])] == [3, 5]
    assert [lead["seq"] for lead in log.search(campaigns=[1])] == [4]
    # Index buckets of forgotten leads are gone, not left empty: the indexes are bounded too.
    log.append({"extern_id": "other", "campaign_id": 7})
    log.append({"extern_id": "other", "campaign_id": 7})
    log.append({"extern_id": "other", "campaign_id": 7})
    assert set(log._by_extern) == {"other"} and set(log._by_campaign) == {7}
    with pytest.raises(ValueError, match="at least one"):
        LeadLog(limit=0)


def _search_seconds(log: LeadLog, externs: list[str]) -> float:
    """Best of five timings of one search per externId."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for extern in externs:
            log.search(externs=[extern], limit=1)
        best = min(best, time.perf_counter() - start)
    return best


def test_a_lookup_costs_the_same_in_a_small_and_a_full_log():
    small, full = LeadLog(limit=100), LeadLog(limit=100_000)
    for log in (small, full):
        for n in range(log.limit):
            log.append({"extern_id": f"e{n}", "campaign_id": 1})
    externs = [f"e{n}" for n in range(0, 100)]
    # A scan would make the full log ~1000 times slower; an index keeps it within noise.
    assert _search_seconds(full, externs) < 5 * _search_seconds(small, externs) + 0.005
