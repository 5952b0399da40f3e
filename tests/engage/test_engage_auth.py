"""Auth against the fake Engage: grant + exchange, reuse, refresh, single-flight, exchange budget."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from engage.auth import ApiTokenAuth, ExchangeBudget, MemoryTokenStore, jwt_lifetime, state_from_answer
from engage.client import EngageClient
from engage.errors import AuthError, ExchangeThrottled


def lead(extern_id: str, phone: str = "4155550100") -> dict:
    """A minimal Engage lead."""
    return {"externId": extern_id, "leadPhone": phone}


def expire_locally(auth) -> None:
    """Make the stored token look expired to the client (the server still accepts it)."""
    state = auth.store.load()
    auth.store.save(replace(state, expires_at=time.time() - 1))


def test_grant_exchange_then_token_reused(fake, server, make_auth, make_client, hot):
    auth = make_auth()
    client = make_client(auth)
    for i in range(5):
        client.load_leads(hot, [lead(f"r{i}")], dial_priority="NORMAL", description="t")
    for _ in range(10):
        assert auth.headers()["Authorization"].startswith("Bearer ")
    stats = fake.stats()
    assert (stats["oauth_calls"], stats["exchanges"], stats["refreshes"]) == (1, 1, 0)
    state = auth.store.load()
    assert state.refresh_token  # includeRefresh=true was sent
    assert state.expires_at - state.obtained_at == pytest.approx(300, abs=1)


def test_lifetime_read_from_jwt_exp(fake, make_auth):
    fake.token_ttl = 120
    state = make_auth().token()
    assert state.expires_at - state.obtained_at == pytest.approx(120, abs=0.5)
    assert jwt_lifetime(state.access_token) == pytest.approx(120, abs=0.01)


def test_opaque_token_assumes_300_seconds():
    state = state_from_answer({"accessToken": "opaque-token", "refreshToken": "r"}, received_at=1000.0)
    assert (state.obtained_at, state.expires_at, state.refresh_token) == (1000.0, 1300.0, "r")


def test_refresh_ahead_of_expiry(fake, make_auth):
    fake.token_ttl = 1.0  # the margin shrinks to half the lifetime: refresh after ~0.5 s
    auth = make_auth(refresh_margin=60)
    first = auth.headers()
    assert auth.headers() == first
    time.sleep(0.6)
    second = auth.headers()
    assert second != first
    stats = fake.stats()
    assert (stats["exchanges"], stats["refreshes"]) == (1, 1)


def test_refresh_rotates_the_refresh_token(fake, make_auth):
    auth = make_auth()
    old = auth.token()
    expire_locally(auth)
    new = auth.token()
    assert new.refresh_token and new.refresh_token != old.refresh_token
    assert new.access_token != old.access_token


def test_refused_refresh_falls_back_to_full_grant(fake, make_auth):
    auth = make_auth()
    auth.headers()
    fake.set_fault(refresh_fail=1)
    expire_locally(auth)
    auth.headers()
    stats = fake.stats()
    assert (stats["refreshes"], stats["exchanges"]) == (1, 2)
    assert stats["oauth_calls"] == 1  # the RingCentral token was reused for the second exchange


def test_single_flight_refresh(fake, make_auth):
    auth = make_auth()
    auth.headers()
    expire_locally(auth)
    barrier = threading.Barrier(20)
    seen: list[str] = []

    def worker():
        """Wait for all threads, then ask for headers at once."""
        barrier.wait()
        seen.append(auth.headers()["Authorization"])

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    stats = fake.stats()
    assert (stats["exchanges"], stats["refreshes"]) == (1, 1)
    assert len(seen) == 20 and len(set(seen)) == 1


def test_single_flight_first_login(fake, make_auth):
    auth = make_auth()
    barrier = threading.Barrier(20)
    threads = [threading.Thread(target=lambda: (barrier.wait(), auth.headers())) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert fake.stats()["exchanges"] == 1


def test_client_refuses_sixth_exchange_in_a_minute(fake, make_auth):
    fake.exchange_limit = 0  # the server would not stop us: the client must
    auth = make_auth()
    for _ in range(5):
        auth.store.save(None)  # no refresh token: every renewal is a full exchange
        auth.headers()
    auth.store.save(None)
    with pytest.raises(ExchangeThrottled) as info:
        auth.headers()
    assert info.value.status is None and info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    assert isinstance(info.value, AuthError)
    assert fake.stats()["exchanges"] == 5


def test_exchange_budget_window_slides():
    now = [0.0]
    budget = ExchangeBudget(limit=2, window=10, clock=lambda: now[0])
    budget.acquire()
    now[0] = 5
    budget.acquire()
    with pytest.raises(ExchangeThrottled) as info:
        budget.acquire()
    assert info.value.retry_after == pytest.approx(5)
    now[0] = 10.5
    budget.acquire()


def test_server_side_exchange_429(fake, make_auth):
    fake.set_fault(exchange_limit=1, retry_after=12)
    make_auth().headers()
    with pytest.raises(ExchangeThrottled) as info:
        make_auth().headers()
    assert info.value.status == 429 and info.value.retry_after == 12
    assert fake.stats()["exchange_429"] == 1


def test_shared_store_means_one_exchange(fake, make_auth):
    store = MemoryTokenStore()
    a, b = make_auth(store=store), make_auth(store=store)
    assert a.headers() == b.headers()
    assert fake.stats()["exchanges"] == 1


def test_bad_client_secret(server, fake):
    from engage.auth import RingCentralJWTAuth

    auth = RingCentralJWTAuth(server.url, server.url, fake.client_id, "wrong", fake.jwt)
    with pytest.raises(AuthError) as info:
        auth.headers()
    assert info.value.status == 401 and "invalid_client" in info.value.body


def test_bad_jwt(server, fake):
    from engage.auth import RingCentralJWTAuth

    auth = RingCentralJWTAuth(server.url, server.url, fake.client_id, fake.client_secret, "not-the-jwt")
    with pytest.raises(AuthError) as info:
        auth.headers()
    assert info.value.status == 400 and "invalid_grant" in info.value.body


def test_invalidate_ignores_a_token_already_replaced(make_auth):
    auth = make_auth()
    state = auth.token()
    auth.invalidate("some-older-token")
    assert auth.store.load() == state
    auth.invalidate(state.access_token)
    assert auth.store.load().expires_at == 0.0


def test_repr_hides_secrets(make_auth, fake):
    text = repr(make_auth()) + repr(ApiTokenAuth("secret-api-token-1234"))
    assert fake.client_secret not in text and fake.jwt not in text and "secret-api-token" not in text


@pytest.mark.parametrize("prefix", ["/voice/api/v1", "/api/v1"])
def test_legacy_api_token(fake, server, hot, prefix):
    fake.api_tokens.add("legacy-token")
    client = EngageClient(server.url, fake.account_id, ApiTokenAuth("legacy-token"), api_prefix=prefix)
    result = client.load_leads(hot, [lead("L1")], dial_priority="IMMEDIATE", description="legacy")
    assert result.accepted_extern_ids == ["L1"]
    assert fake.stats()["exchanges"] == 0


def test_legacy_api_token_refused_without_retry(fake, server, hot):
    client = EngageClient(server.url, fake.account_id, ApiTokenAuth("unknown-token"))
    with pytest.raises(AuthError) as info:
        client.load_leads(hot, [lead("L1")], dial_priority="NORMAL", description="legacy")
    assert info.value.status == 401
    assert fake.stats()["loader_calls"] == 1
