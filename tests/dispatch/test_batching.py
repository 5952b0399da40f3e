"""Grouping into calls and the one backoff formula, without a database."""

import random

from dispatch.backoff import backoff
from dispatch.batching import group
from store.queue import ClaimedLead


def claimed(lead_id, *, phone, extern=None, priority="IMMEDIATE", campaign="Hot", age=0.0, now=1000.0, **opts):
    """A claimed lead as the queue hands it over."""
    return ClaimedLead(
        lead_id,
        "hubspot",
        extern or f"x{lead_id}",
        priority,
        campaign,
        {"firstName": "A"},
        opts,
        0,
        1,
        now - age,
        phone,
    )


def test_equal_phones_and_extern_ids_never_share_a_call():
    leads = [
        claimed(1, phone="+1555"),
        claimed(2, phone="+1555"),
        claimed(3, phone="+1666", extern="x1"),
        claimed(4, phone="+1777"),
    ]
    batches = group(leads, immediate_max_age=60, now=1000.0)
    assert [[c.id for c in b.leads] for b in batches] == [[1, 4], [2, 3]]
    assert all(b.options.dial_priority == "IMMEDIATE" for b in batches)


def test_campaigns_options_and_stale_hot_leads_split_calls():
    leads = [
        claimed(1, phone="1"),
        claimed(2, phone="2", campaign="Cold"),
        claimed(3, phone="3", age=120),
        claimed(4, phone="4", duplicateHandling="RETAIN_ALL"),
    ]
    batches = group(leads, immediate_max_age=60, now=1000.0)
    by_id = {b.leads[0].id: b.options for b in batches}
    assert len(batches) == 4
    assert by_id[2].campaign == "Cold" and by_id[3].dial_priority == "NORMAL"
    assert by_id[4].duplicate_handling == "RETAIN_ALL" and by_id[1].duplicate_handling is None
    halves = batches[0].split()
    assert halves[0].options == halves[1].options == batches[0].options


def test_backoff_doubles_to_the_cap_and_jitters_within_half():
    assert [backoff(n, 1.0, 10.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(10_000, 1.0, 10.0) == 10.0  # a long-failing lead cannot overflow
    rng = random.Random(7)
    spread = [backoff(3, 1.0, 100.0, rng) for _ in range(200)]
    assert all(4.0 <= d <= 8.0 for d in spread) and max(spread) - min(spread) > 2.0
