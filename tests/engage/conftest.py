"""Fixtures for the engage tests: a fake Engage on a real loopback socket, and clients for it."""

from __future__ import annotations

import pytest

from engage.auth import MemoryTokenStore, RingCentralJWTAuth
from engage.client import EngageClient
from harness.fake_engage import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_JWT, HarnessEngage, serve
from tests.lanes import process_fixture


@pytest.fixture
def fake() -> HarnessEngage:
    """A fresh fake with the default campaigns ("Inbound Leads", "Hot Inbound")."""
    return HarnessEngage()


@pytest.fixture
@process_fixture
def server(fake):
    """The fake served on 127.0.0.1:<free port>; stopped after the test."""
    srv = serve(fake)
    yield srv
    srv.stop()


@pytest.fixture
def make_auth(server):
    """Factory for a RingCentralJWTAuth against the fake (own store unless given)."""

    def build(**kw) -> RingCentralJWTAuth:
        """Build one auth object."""
        kw.setdefault("store", MemoryTokenStore())
        kw.setdefault("timeout", (1.0, 2.0))
        return RingCentralJWTAuth(server.url, server.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_JWT, **kw)

    return build


@pytest.fixture
def make_client(server, make_auth, fake):
    """Factory for an EngageClient against the fake."""

    def build(auth=None, **kw) -> EngageClient:
        """Build one client."""
        kw.setdefault("connect_timeout", 1.0)
        kw.setdefault("read_timeout", 2.0)
        return EngageClient(server.url, fake.account_id, auth if auth is not None else make_auth(), **kw)

    return build


@pytest.fixture
def client(make_client):
    """A client with its own token store."""
    return make_client()


@pytest.fixture
def hot(fake) -> int:
    """Id of the "Hot Inbound" campaign."""
    return fake.campaign_id("Hot Inbound")
