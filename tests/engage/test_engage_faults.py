"""The client under Engage's failure modes, on a real socket: lead search, unknown fates, token outages."""

from __future__ import annotations

import socket

import pytest

from engage.errors import AuthError, LookupUnsupported, Throttled, Unavailable

LEADS = [{"externId": f"X{i}", "leadPhone": f"30355501{i:02d}"} for i in range(3)]


def load(client, campaign, leads=LEADS):
    """One lead-loader call with the usual options."""
    return client.load_leads(campaign, leads, dial_priority="IMMEDIATE", description="t")


def test_lead_search_finds_loaded_leads_by_campaign_and_extern_id(client, fake, hot):
    """leadSearch returns only the externIds loaded into that campaign."""
    load(client, hot, LEADS[:2])
    assert client.lead_search(hot, ["X0", "X1", "X2"]) == {"X0", "X1"}
    assert client.lead_search(fake.campaign_id("Inbound Leads"), ["X0"]) == set()
    assert fake.stats()["search_calls"] == 2


def test_lead_search_has_its_own_rate_limit(client, fake, hot):
    """15 searches per 10 s; the 16th is a 429 (Throttled), the loader is unaffected."""
    for _ in range(15):
        client.lead_search(hot, ["X0"])
    with pytest.raises(Throttled):
        client.lead_search(hot, ["X0"])
    assert load(client, hot).accepted_extern_ids == ["X0", "X1", "X2"]


def test_lead_search_refused_is_unsupported(client, fake, hot):
    """A login without lead search (403) cannot decide fates: LookupUnsupported."""
    fake.set_fault(search_status=403)
    with pytest.raises(LookupUnsupported):
        client.lead_search(hot, ["X0"])


def test_read_timeout_after_loading_has_an_unknown_fate(make_client, fake, hot):
    """The leads land, the answer never comes: Unavailable with fate_unknown (look up before resending)."""
    client = make_client(read_timeout=0.5)
    client.auth.headers()
    fake.set_fault(hang=2.0, hang_after=True, hang_count=1)
    with pytest.raises(Unavailable) as info:
        load(client, hot)
    assert info.value.fate_unknown
    assert [lead["extern_id"] for lead in fake.leads()] == ["X0", "X1", "X2"]


def test_refused_connection_was_never_sent(make_auth, fake, monkeypatch):
    """Nothing listens on the port: Unavailable, fate known (nothing reached Engage)."""
    from engage.client import EngageClient

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = EngageClient(
        f"http://127.0.0.1:{port}", fake.account_id, make_auth(), connect_timeout=0.5, read_timeout=0.5
    )
    monkeypatch.setattr(client.auth, "headers", lambda: {})  # only the loader call itself is under test here
    with pytest.raises(Unavailable) as info:
        load(client, 1)
    assert not info.value.fate_unknown


def test_unreadable_200_has_an_unknown_fate(client, fake, hot):
    """A 200 whose body cannot be read is not 'all accepted': fate unknown (Engage did load them here)."""
    fake.set_fault(garbled_200=1)
    with pytest.raises(Unavailable) as info:
        load(client, hot)
    assert info.value.fate_unknown and info.value.status == 200
    assert len(fake.leads()) == 3


def test_empty_201_still_means_accepted(client, fake, hot):
    """An empty 2xx body (Engage may answer 201 with no body) is not 'unreadable'."""
    fake.set_fault(created_empty=1)
    assert load(client, hot).accepted_extern_ids == ["X0", "X1", "X2"]


def test_token_endpoints_down_is_unavailable_not_auth(make_client, fake, hot):
    """503 from RingCentral's token endpoints: Unavailable (an outage), never AuthError; fate known."""
    fake.set_fault(auth_status=503)
    client = make_client()
    with pytest.raises(Unavailable) as info:
        load(client, hot)
    assert not isinstance(info.value, AuthError) and not info.value.fate_unknown
    assert fake.stats()["loader_calls"] == 0


def test_token_endpoint_timeout_is_unavailable(make_client, fake, hot):
    """Token endpoints that do not answer in time: Unavailable too."""
    fake.set_fault(auth_hang=2.0)
    client = make_client(auth=None)
    client.auth.timeout = (0.5, 0.5)
    with pytest.raises(Unavailable):
        load(client, hot)


def test_refused_credentials_are_auth_errors(make_client, fake, hot):
    """invalid_client from RingCentral is a credentials problem (AuthError → hold)."""
    fake.client_secret = "rotated"
    with pytest.raises(AuthError) as info:
        load(make_client(), hot)
    assert "invalid_client" in info.value.body
