"""Account discovery: GET /admin/accounts lists every sub-account a login sees, before any id is configured."""

from __future__ import annotations

import pytest

from engage.client import DISCOVERY_ACCOUNT, EngageClient
from engage.errors import AuthError


def test_discovery_client_lists_sub_accounts_and_nothing_else(fake, server, make_auth):
    """The fake lists its own account and the added ones; a discovery client can only list."""
    fake.add_account("22220001", "West Coast")
    client = EngageClient(server.url, DISCOVERY_ACCOUNT, make_auth(), connect_timeout=1.0, read_timeout=2.0)
    listed = [(a["accountId"], a["accountName"], a["mainAccountId"]) for a in client.accounts()]
    assert listed == [(fake.account_id, "Fake Engage", fake.account_id), ("22220001", "West Coast", fake.account_id)]
    with pytest.raises(ValueError, match="only lists accounts"):
        client.dial_groups()


def test_a_listed_sub_account_is_not_the_configured_one(fake, server, make_auth):
    """Listing another sub-account does not make the fake serve it: calls under it are refused."""
    fake.add_account("22220001", "West Coast")
    client = EngageClient(server.url, "22220001", make_auth(), connect_timeout=1.0, read_timeout=2.0)
    with pytest.raises(AuthError):
        client.dial_groups()
